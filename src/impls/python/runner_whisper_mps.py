"""whisper-mps (an MLX port of openai-whisper, made for Apple silicon) behind the whisper-speedtest protocol; on
Linux it runs on MLX's CPU build (pip install 'mlx[cpu]').

Model: an openai-whisper checkpoint (.pt) given by path. whisper-mps's own loader accepts only model names and
downloads their checkpoints from OpenAI into ~/.cache/whisper (the original Apple tool's bridge fetched every
model this way), so the runner never calls it: it builds the model from the given file with whisper-mps's
own classes and converter (torch_whisper.Whisper, load_models.torch_to_mlx) and places it in whisper-mps's
model cache (transcribe.ModelHolder) under the file's path, which transcribe() then reuses without loading.

Options: as openai-whisper's transcribe(), which whisper-mps mirrors; no word timestamps in this library. MLX
has no thread setting: n_threads is not honoured and is reported as 0; torch (used only to read the checkpoint)
gets n_threads.
"""

import protocol


class WhisperMps(protocol.Peer):
    name = "whisper-mps"

    def import_peer(self):
        try:
            import mlx.core as mx
        except ImportError as e:
            raise protocol.PeerMissing(f"mlx cannot be imported (on Linux: pip install 'mlx[cpu]'): {e}")
        try:
            import torch
        except ImportError as e:
            raise protocol.PeerMissing(f"torch cannot be imported (whisper-mps reads checkpoints with it): {e}")
        try:
            import importlib
            lm = importlib.import_module("whisper_mps.whisper.load_models")
            tw = importlib.import_module("whisper_mps.whisper.torch_whisper")
            tr = importlib.import_module("whisper_mps.whisper.transcribe")
        except ImportError as e:
            raise protocol.PeerMissing(f"whisper_mps cannot be imported: {e}")
        from importlib.metadata import version
        self.mx, self.torch, self.lm, self.tw, self.tr = mx, torch, lm, tw, tr
        self.version = version("whisper-mps")
        self.mlx_version = version("mlx")
        return self.version

    def load(self, req):
        req.require_model_path(want_dir=False)
        if req.beam_size > 1:
            raise ValueError("whisper-mps has no beam search: use beam_size 1")
        mx, torch = self.mx, self.torch
        torch.set_num_threads(req.threads())
        mx.set_default_device(mx.gpu if req.device.startswith("cuda") else mx.cpu)
        self.fp16 = req.device.startswith("cuda")
        try:
            checkpoint = torch.load(req.model_path, map_location="cpu")
            dims = self.tw.ModelDimensions(**checkpoint["dims"])
        except Exception as e:
            raise ValueError(f"{req.model_path}: not an openai-whisper checkpoint ({protocol.one_line(e)})")
        model = self.tw.Whisper(dims)
        model.load_state_dict(checkpoint["model_state_dict"])
        holder = self.tr.ModelHolder
        holder.model = self.lm.torch_to_mlx(model, mx.float16 if self.fp16 else mx.float32)
        holder.model_name = req.model_path
        self.req = req
        return protocol.mlx_used(req.model_path, "openai", self.fp16, f"{self.version} (mlx {self.mlx_version}, torch {torch.__version__})")

    def transcribe(self, audio):
        r = self.req
        result = self.tr.transcribe(
            audio, model=r.model_path, **protocol.openai_style_options(r.language), best_of=protocol.BEST_OF,
            fp16=self.fp16)
        return result["text"].strip(), result.get("language")

    def peak_gpu_bytes(self):
        return protocol.mlx_peak_gpu_bytes(self.mx, on_gpu=self.fp16)


if __name__ == "__main__":
    protocol.main(WhisperMps())
