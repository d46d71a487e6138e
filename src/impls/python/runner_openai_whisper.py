"""openai-whisper (PyTorch, the reference implementation) behind the whisper-speedtest line protocol.

Model: an openai-whisper checkpoint file ({"dims", "model_state_dict"} saved by torch.save), given by path;
whisper.load_model() loads a path as is and downloads only when given a model name, which this runner never
passes. float32 on CPU; float16 on CUDA (fp16=True), as openai-whisper itself chooses by default.
"""

import protocol


class OpenaiWhisper(protocol.Peer):
    name = "openai-whisper"

    def import_peer(self):
        try:
            import torch
        except ImportError as e:
            raise protocol.PeerMissing(f"torch cannot be imported (openai-whisper needs it): {e}")
        try:
            import whisper
        except ImportError as e:
            raise protocol.PeerMissing(f"whisper (openai-whisper) cannot be imported: {e}")
        if not hasattr(whisper, "load_model") or not hasattr(whisper, "transcribe"):
            raise protocol.PeerMissing(f"the module 'whisper' at {getattr(whisper, '__file__', '?')} is not "
                                       "openai-whisper")
        self.torch, self.whisper = torch, whisper
        from whisper.version import __version__
        self.version = __version__
        return __version__

    def load(self, req):
        req.require_model_path(want_dir=False)
        torch = self.torch
        torch.set_num_threads(req.threads())
        self.model = self.whisper.load_model(req.model_path, device=req.device, in_memory=True)
        self.fp16 = req.device.startswith("cuda")
        self.req = req
        return {
            "model_file": req.model_path,
            "format": "openai",
            "precision": "float16" if self.fp16 else "float32",
            "device": str(self.model.device),
            "n_threads": torch.get_num_threads(),
            "version": f"{self.version} (torch {torch.__version__})",
        }

    def transcribe(self, audio):
        r = self.req
        # beam_size None is openai-whisper's greedy decoder; beam_size=1 would run its beam search with one beam.
        result = self.whisper.transcribe(
            self.model, audio, **protocol.openai_style_options(r.language), word_timestamps=protocol.WORD_TIMESTAMPS,
            beam_size=None if r.beam_size == 1 else r.beam_size, best_of=protocol.BEST_OF, fp16=self.fp16)
        return result["text"].strip(), result.get("language")

    def device_problem(self, device):
        return protocol.torch_device_problem(self.torch, device)

    def peak_gpu_bytes(self):
        return protocol.torch_peak_gpu_bytes(self.torch, self.req.device)


if __name__ == "__main__":
    protocol.main(OpenaiWhisper())
