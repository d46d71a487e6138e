"""lightning-whisper-mlx (a batched fork of mlx-whisper, made for Apple silicon) behind the whisper-speedtest
protocol; on Linux it runs on MLX's CPU build (pip install 'mlx[cpu]').

Model: an mlx-whisper directory (config.json with the model dimensions, weights.safetensors or weights.npz),
given by path. The library's front door, LightningWhisperMLX(name), takes only model names and always downloads
from the Hugging Face Hub (hf_hub_download into ./mlx_models/<name> under the current directory), so the runner
never calls it. It loads the directory itself into lightning-whisper-mlx's own classes (whisper.ModelDimensions,
whisper.Whisper: the library's load_models.load_model reads only weights.npz, so a weights.safetensors, what
`models convert --to mlx` writes, is read the same way with mx.load) and places the model in the library's cache
(transcribe.ModelHolder) under the directory's path; transcribe_audio() then uses it without loading.

Decoding: the library's transcribe_audio(), which cuts the audio into fixed 30 s windows and decodes
`batch_size` of them at once (12, LightningWhisperMLX's default), greedy. What it cannot honour of the shared
options: the temperature ladder (it falls back from 0.0 straight to 1.0, whatever it is given); seeking by the
last timestamp (windows are fixed); the previous text as prompt only between batches (the windows of one batch
share the text before the batch); the no-speech rule (a window over the no-speech threshold is kept from the
fallback whatever its log-probability). No beam search (its beam decoder raises NotImplementedError). MLX has no
thread setting: n_threads is not honoured and is reported as 0.

Dependencies: the wheel pins tiktoken==0.3.3 and asks for PyPI's torch (used only by its torch_whisper.py,
which transcription never imports). setup.sh installs it with --no-deps into .venv-torch, beside mlx-whisper,
where it runs with that environment's tiktoken (docs/BRIDGES.md).
"""

import protocol

BATCH_SIZE = 12


class LightningWhisperMlx(protocol.Peer):
    name = "lightning-whisper-mlx"

    def import_peer(self):
        try:
            import mlx.core as mx
        except ImportError as e:
            raise protocol.PeerMissing(f"mlx cannot be imported (on Linux: pip install 'mlx[cpu]'): {e}")
        try:
            import importlib
            whisper = importlib.import_module("lightning_whisper_mlx.whisper")
            transcribe = importlib.import_module("lightning_whisper_mlx.transcribe")
        except ImportError as e:
            raise protocol.PeerMissing(f"lightning_whisper_mlx cannot be imported: {e}")
        from importlib.metadata import version
        self.mx, self.whisper, self.tr = mx, whisper, transcribe
        self.version = version("lightning-whisper-mlx")
        self.mlx_version = version("mlx")
        return self.version

    def load(self, req):
        req.require_model_path(want_dir=True)
        import json
        import os
        if not os.path.isfile(os.path.join(req.model_path, "config.json")):
            raise ValueError(f"{req.model_path}: not an MLX Whisper directory (no config.json)")
        weights = None
        for name in ("weights.safetensors", "weights.npz"):
            if os.path.isfile(os.path.join(req.model_path, name)):
                weights = os.path.join(req.model_path, name)
                break
        if weights is None:
            raise ValueError(f"{req.model_path}: not an MLX Whisper directory "
                             "(no weights.safetensors or weights.npz)")
        if req.beam_size > 1:
            raise ValueError("lightning-whisper-mlx has no beam search: use beam_size 1")
        mx = self.mx
        from mlx.utils import tree_unflatten
        self.fp16 = req.device.startswith("cuda")
        mx.set_default_device(mx.gpu if self.fp16 else mx.cpu)
        dtype = mx.float16 if self.fp16 else mx.float32
        # As lightning_whisper_mlx.load_models.load_model, from whichever weights file the directory has.
        with open(os.path.join(req.model_path, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        config.pop("model_type", None)
        quantization = config.pop("quantization", None)
        model = self.whisper.Whisper(self.whisper.ModelDimensions(**config), dtype)
        if quantization is not None:
            import mlx.nn as nn
            nn.QuantizedLinear.quantize_module(model, **quantization)
        model.update(tree_unflatten(list(mx.load(weights).items())))
        mx.eval(model.parameters())
        holder = self.tr.ModelHolder
        holder.model, holder.model_path = model, req.model_path
        self.req = req
        return protocol.mlx_used(req.model_path, "mlx", self.fp16, f"{self.version} (mlx {self.mlx_version}, batched by {BATCH_SIZE})")

    def transcribe(self, audio):
        r = self.req
        result = self.tr.transcribe_audio(
            audio, path_or_hf_repo=r.model_path, **protocol.openai_style_options(r.language),
            word_timestamps=protocol.WORD_TIMESTAMPS, batch_size=BATCH_SIZE, fp16=self.fp16)
        return result["text"].strip(), result.get("language")

    def peak_gpu_bytes(self):
        return protocol.mlx_peak_gpu_bytes(self.mx, on_gpu=self.fp16)


if __name__ == "__main__":
    protocol.main(LightningWhisperMlx())
