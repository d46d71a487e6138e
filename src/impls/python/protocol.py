"""The line protocol between whisper-speedtest (C++, src/impls/python_bridge.cpp) and a peer runner.

Each runner (runner_<peer>.py) is a child process of the benchmark. It reads one JSON object per line on stdin
and answers each with exactly one JSON object per line on stdout, in order. Everything a peer library prints
(progress bars, warnings, print()) goes to stderr, which the C++ side keeps for its error messages: the
protocol's stdout is a private duplicate of fd 1, and fd 1 itself is pointed at stderr before any peer is
imported. Protocol version 1 (docs/BRIDGES.md has the full description):

  -> {"op": "info"}                      (or {"op": "info", "device": "cuda"}: can it run there?)
  <- {"ok": true, "protocol": 1, "peer": "faster-whisper", "available": true, "version": "1.2.1",
      "python": "/usr/bin/python3", "reason": ""}
     (when the peer imports but cannot use the device asked for: "available": false, "installed": true and
      the reason, e.g. "torch 2.11.0 sees no CUDA device")
  -> {"op": "load", "model_path": "/m/tiny.en", "model_format": "ctranslate2", "language": "en",
      "n_threads": 2, "device": "cpu", "beam_size": 1, "options": {"compute_type": "float32"}}
  <- {"ok": true, "load_ms": 812.5, "used": {"model_file": ..., "format": ..., "precision": "float32",
      "device": "cpu", "n_threads": 2, "version": "1.2.1"}}
  -> {"op": "transcribe", "audio_path": "/tmp/wst-bridge-x/audio.f32", "n_samples": 176000}
  <- {"ok": true, "text": "And so my fellow ...", "language": "en", "internal_ms": 512.3}
  (load and transcribe answers also carry "peak_gpu_bytes": N, the peer's peak GPU memory since it started,
  where it runs on a GPU and its library can tell; the key is absent otherwise)
  -> {"op": "quit"}
  <- {"ok": true}                        and the runner exits with status 0

Any failure is answered {"ok": false, "error": "<one line>"} and the runner keeps serving. Audio is a file of
n_samples little-endian float32 mono samples at 16 kHz, written by the C++ side (see docs/BRIDGES.md, "Why a
file").
"""

import json
import os
import sys
import time
import traceback

PROTOCOL_VERSION = 1
SAMPLE_RATE = 16000

# The decoding options every peer is given, so that they are compared on equal terms. These are
# openai-whisper's transcribe() defaults with greedy decoding, which faster-whisper, transformers and
# whisper.cpp also use by default: the temperature fallback ladder 0.0, 0.2, ..., 1.0 with its three
# thresholds, the previous text as prompt, no VAD, no word timestamps. beam_size and language come from the
# request; best_of is 1 (one sample per fallback temperature).
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
BEST_OF = 1
CONDITION_ON_PREVIOUS_TEXT = True
WORD_TIMESTAMPS = False
VAD = False


def openai_style_options(language):
    """The options above as keyword arguments of openai-whisper's transcribe(), which mlx-whisper, whisper-mps
    and lightning-whisper-mlx copy; each runner adds what its library takes besides (best_of, word timestamps,
    beam size, fp16, batch size)."""
    return dict(verbose=None, language=language, task="transcribe", temperature=TEMPERATURES,
                compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD, logprob_threshold=LOG_PROB_THRESHOLD,
                no_speech_threshold=NO_SPEECH_THRESHOLD, condition_on_previous_text=CONDITION_ON_PREVIOUS_TEXT)


class PeerMissing(Exception):
    """The peer library cannot be imported by this interpreter."""


class Request:
    """A load request, with the defaults the C++ side would send."""

    def __init__(self, msg):
        self.model_path = str(msg.get("model_path", ""))
        self.model_format = str(msg.get("model_format", ""))
        self.language = str(msg.get("language", "")) or None
        self.n_threads = int(msg.get("n_threads", 0))
        self.device = str(msg.get("device", "cpu")) or "cpu"
        self.beam_size = max(1, int(msg.get("beam_size", 1)))
        # Peer-specific choices fixed by the registry entry, e.g. {"compute_type": "int8"} for faster-whisper.
        self.options = dict(msg.get("options") or {})

    def threads(self):
        """n_threads, with 0 meaning every core this process may run on."""
        if self.n_threads > 0:
            return self.n_threads
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:
            return os.cpu_count() or 1

    def require_model_path(self, want_dir=None):
        """Raises a one-line error naming the path when it is missing or of the wrong kind."""
        p = self.model_path
        if not p:
            raise ValueError("no model path given")
        if not os.path.exists(p):
            raise ValueError(f"{p}: model not found")
        if want_dir is True and not os.path.isdir(p):
            raise ValueError(f"{p}: expected a model directory, found a file")
        if want_dir is False and not os.path.isfile(p):
            raise ValueError(f"{p}: expected a model file, found a directory")


def read_audio(msg):
    """The request's audio as a float32 numpy array of n_samples samples."""
    import numpy as np

    path = msg["audio_path"]
    n = int(msg["n_samples"])
    audio = np.fromfile(path, dtype="<f4")
    if audio.size != n:
        raise ValueError(f"{path}: expected {n} float32 samples, found {audio.size}")
    return audio.astype(np.float32, copy=False)


def one_line(exc):
    """An exception as one line: its type when the message alone would be unclear."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, (ValueError, PeerMissing)) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


class Peer:
    """What a runner implements. info() may be called before load(); import the library lazily in it."""

    name = ""  # the peer, e.g. "faster-whisper" (the C++ side knows the command that installs it)

    def import_peer(self):
        """Imports the peer library and returns its version; raises PeerMissing saying why not."""
        raise NotImplementedError

    def load(self, req):
        """Loads the model for Request req and returns the "used" dict (model_file, format, precision, device,
        n_threads, version)."""
        raise NotImplementedError

    def transcribe(self, audio):
        """Returns (text, language) for a float32 16 kHz array. Timed by serve()."""
        raise NotImplementedError

    def device_problem(self, device):
        """None when the peer can run on `device` ("cpu", "cuda", "cuda:N"), else one line saying why not.
        Called after import_peer(). The default: the CPU only."""
        if str(device).startswith("cuda"):
            return f"{self.name} runs on the CPU only here"
        return None

    def peak_gpu_bytes(self):
        """The most GPU memory the peer has held so far, in bytes, or None (on the CPU, or when its library
        cannot tell). Sent with every load and transcribe answer."""
        return None


def torch_device_problem(torch, device):
    """Why torch cannot run on `device`, or None."""
    if not str(device).startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (built for CUDA {torch.version.cuda or 'none'})"
    index = int(str(device)[5:] or 0) if str(device).startswith("cuda:") else 0
    if index >= torch.cuda.device_count():
        return f"{device}: torch sees {torch.cuda.device_count()} CUDA device(s)"
    return None


def torch_peak_gpu_bytes(torch, device):
    """torch's caching allocator's high-water mark on a CUDA device: max_memory_reserved, the memory taken
    from the GPU (cached blocks included), which is what the native engine's pool figure counts too. None on
    the CPU."""
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    return int(torch.cuda.max_memory_reserved(torch.device(device)))


def mlx_peak_gpu_bytes(mx, on_gpu):
    """MLX's allocator high-water mark (mx.get_peak_memory) when the model runs on MLX's CUDA build; None on
    its CPU build, where the figure would count host memory."""
    get_peak = getattr(mx, "get_peak_memory", None)
    if not on_gpu or get_peak is None:
        return None
    return int(get_peak())


def mlx_used(model_file, fmt, fp16, version):
    """The load answer of the MLX peers: float16 on MLX's CUDA build, float32 on its CPU build, and no thread
    count (MLX has no setting; 0 says so rather than claim the threads asked for)."""
    return {
        "model_file": model_file,
        "format": fmt,
        "precision": "float16" if fp16 else "float32",
        "device": "cuda" if fp16 else "cpu",
        "n_threads": 0,
        "version": version,
    }


def with_gpu_peak(answer, peer):
    """The answer with "peak_gpu_bytes" added when the peer reports one."""
    peak = peer.peak_gpu_bytes()
    if peak is not None:
        answer["peak_gpu_bytes"] = int(peak)
    return answer


def serve(peer):
    """Answers requests on stdin until "quit" or end of input."""
    # The protocol owns a private copy of stdout; fd 1 then goes to stderr so that anything the peer prints
    # cannot break a response line.
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(obj):
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()

    version = None
    missing = None
    loaded = False
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            op = msg.get("op")
            if op == "quit":
                send({"ok": True})
                return 0
            if op in ("info", "load") and version is None and missing is None:
                try:
                    version = peer.import_peer()
                except PeerMissing as e:
                    missing = one_line(e)
            if op == "info":
                device = str(msg.get("device", "cpu")) or "cpu"
                unusable = peer.device_problem(device) if missing is None else None
                send({"ok": True, "protocol": PROTOCOL_VERSION, "peer": peer.name,
                      "available": missing is None and unusable is None, "installed": missing is None,
                      "version": version or "", "reason": missing or unusable or "", "python": sys.executable})
            elif op == "load":
                if missing is not None:
                    raise PeerMissing(missing)
                loaded = False
                t0 = time.perf_counter()
                used = peer.load(Request(msg))
                load_ms = (time.perf_counter() - t0) * 1000.0
                loaded = True
                send(with_gpu_peak({"ok": True, "load_ms": load_ms, "used": used}, peer))
            elif op == "transcribe":
                if not loaded:
                    raise ValueError("transcribe before load")
                audio = read_audio(msg)
                t0 = time.perf_counter()
                text, language = peer.transcribe(audio)
                internal_ms = (time.perf_counter() - t0) * 1000.0
                send(with_gpu_peak({"ok": True, "text": text, "language": language or "",
                                    "internal_ms": internal_ms}, peer))
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as e:  # every failure becomes one error line; the runner keeps serving
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            send({"ok": False, "error": one_line(e)})
    return 0


def main(peer):
    code = serve(peer)
    # Leave without the interpreter's teardown: some peers' native threads abort during it (mlx:
    # "terminate called without an active exception"), which would turn a clean quit into a crash.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
