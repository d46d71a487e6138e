"""mlx-whisper (Apple's MLX port of openai-whisper) behind the whisper-speedtest line protocol; on Linux it runs
on MLX's CPU build (pip install 'mlx[cpu]') or its CUDA build ('mlx[cuda13]').

Model: an mlx-whisper directory (config.json with the model dimensions, weights.safetensors or weights.npz),
given by path. mlx-whisper downloads from the Hugging Face Hub when the path does not exist, so the runner checks
it first (and the bridge sets HF_HUB_OFFLINE=1). The model is loaded once in load() into mlx-whisper's own
model cache (ModelHolder), which transcribe() then reuses for the same path and dtype.

Options: as openai-whisper's transcribe(), which mlx-whisper mirrors. MLX has no thread setting: n_threads is
not honoured and is reported as 0 (the library's choice). Beam search is not implemented in mlx-whisper.
"""

import protocol


class MlxWhisper(protocol.Peer):
    name = "mlx-whisper"

    def import_peer(self):
        try:
            import mlx.core as mx
        except ImportError as e:
            raise protocol.PeerMissing(f"mlx cannot be imported (on Linux: pip install 'mlx[cpu]'): {e}")
        try:
            import importlib
            import mlx_whisper
            # The module, not the function of the same name that the package exports.
            mlx_transcribe = importlib.import_module("mlx_whisper.transcribe")
        except ImportError as e:
            raise protocol.PeerMissing(f"mlx_whisper cannot be imported: {e}")
        from importlib.metadata import version
        self.mx, self.mlx_whisper, self.holder = mx, mlx_whisper, mlx_transcribe.ModelHolder
        self.version = version("mlx-whisper")
        self.mlx_version = version("mlx")
        return self.version

    def load(self, req):
        req.require_model_path(want_dir=True)
        import os
        if not os.path.isfile(os.path.join(req.model_path, "config.json")):
            raise ValueError(f"{req.model_path}: not an mlx-whisper model directory (no config.json)")
        if req.beam_size > 1:
            raise ValueError("mlx-whisper has no beam search: use beam_size 1")
        mx = self.mx
        if req.device.startswith("cuda"):
            mx.set_default_device(mx.gpu)
        else:
            mx.set_default_device(mx.cpu)
        self.fp16 = req.device.startswith("cuda")
        self.holder.get_model(req.model_path, mx.float16 if self.fp16 else mx.float32)
        self.req = req
        return protocol.mlx_used(req.model_path, "mlx", self.fp16, f"{self.version} (mlx {self.mlx_version})")

    def transcribe(self, audio):
        r = self.req
        result = self.mlx_whisper.transcribe(
            audio, path_or_hf_repo=r.model_path, **protocol.openai_style_options(r.language),
            word_timestamps=protocol.WORD_TIMESTAMPS, best_of=protocol.BEST_OF, fp16=self.fp16)
        return result["text"].strip(), result.get("language")

    def peak_gpu_bytes(self):
        return protocol.mlx_peak_gpu_bytes(self.mx, on_gpu=self.fp16)


if __name__ == "__main__":
    protocol.main(MlxWhisper())
