"""faster-whisper (CTranslate2) behind the whisper-speedtest line protocol (protocol.py).

Model: a CTranslate2 Whisper directory (model.bin, config.json, tokenizer.json, vocabulary.*), given by path and
loaded with local_files_only=True so that the library never reaches the Hugging Face Hub. The compute type is
the registry entry's (options.compute_type: float32, int8, float16, int8_float32, ...); the one CTranslate2
really runs is read back from the loaded model and reported as the precision.

With options.batched = "1" (the faster-whisper-batched entry) the runner uses faster-whisper's
BatchedInferencePipeline: the audio is cut into fixed 30 s windows (no VAD, as for every peer; the pipeline
would otherwise cut at VAD boundaries) decoded options.batch_size (default 8) at a time. The pipeline decodes
windows independently: it cannot condition on the previous text, and it decodes without timestamp tokens (its
default); the version string says "batched".
"""

import protocol


class FasterWhisper(protocol.Peer):
    name = "faster-whisper"

    def import_peer(self):
        try:
            import faster_whisper  # noqa: F401
            import ctranslate2  # noqa: F401
        except ImportError as e:
            raise protocol.PeerMissing(f"faster_whisper cannot be imported: {e}")
        self.fw, self.ct2 = faster_whisper, ctranslate2
        self.ct2_version = ctranslate2.__version__
        return faster_whisper.__version__

    def device_problem(self, device):
        if not str(device).startswith("cuda"):
            return None
        try:
            n = self.ct2.get_cuda_device_count()
        except Exception as e:  # a wheel without CUDA, or CUDA libraries it cannot load
            return f"ctranslate2 {self.ct2_version} cannot use CUDA: {protocol.one_line(e)}"
        if n == 0:
            return f"ctranslate2 {self.ct2_version} sees no CUDA device (it needs CUDA 12's cuBLAS and cuDNN 9)"
        return None

    def load(self, req):
        req.require_model_path(want_dir=True)
        import os

        if not os.path.isfile(os.path.join(req.model_path, "model.bin")):
            raise ValueError(f"{req.model_path}: not a CTranslate2 model directory (no model.bin)")
        compute_type = req.options.get("compute_type", "float32")
        device, _, index = req.device.partition(":")  # "cuda:1" -> CTranslate2's device "cuda", index 1
        self.model = self.fw.WhisperModel(
            req.model_path, device=device, device_index=int(index or 0), compute_type=compute_type, cpu_threads=req.threads(),
            num_workers=1, local_files_only=True)
        self.req = req
        self.batched = req.options.get("batched") == "1"
        if self.batched:
            self.pipeline = self.fw.BatchedInferencePipeline(model=self.model)
            self.batch_size = int(req.options.get("batch_size", "8"))
        return {
            "model_file": req.model_path,
            "format": "ctranslate2",
            # What CTranslate2 resolved the request to (e.g. int8 -> int8_float32 on CPU).
            "precision": self.model.model.compute_type,
            "device": self.model.model.device,
            "n_threads": req.threads(),
            "version": f"{self.fw.__version__} (ctranslate2 {self.ct2_version}"
                       + (f", batched by {self.batch_size})" if self.batched else ")"),
        }

    def transcribe(self, audio):
        r = self.req
        if self.batched:
            # clip_timestamps in seconds, as the pipeline expects them when given.
            duration_s = audio.shape[0] / protocol.SAMPLE_RATE
            clips = [{"start": float(s), "end": min(s + 30.0, duration_s)} for s in range(0, int(duration_s) + 1, 30)
                     if s < duration_s]
            segments, info = self.pipeline.transcribe(
                audio, language=r.language, task="transcribe", beam_size=r.beam_size, best_of=protocol.BEST_OF,
                temperature=list(protocol.TEMPERATURES),
                compression_ratio_threshold=protocol.COMPRESSION_RATIO_THRESHOLD,
                log_prob_threshold=protocol.LOG_PROB_THRESHOLD, no_speech_threshold=protocol.NO_SPEECH_THRESHOLD,
                word_timestamps=protocol.WORD_TIMESTAMPS, vad_filter=protocol.VAD, clip_timestamps=clips,
                batch_size=self.batch_size)
            return "".join(s.text for s in segments).strip(), info.language
        segments, info = self.model.transcribe(
            audio, language=r.language, task="transcribe", beam_size=r.beam_size, best_of=protocol.BEST_OF,
            temperature=list(protocol.TEMPERATURES),
            compression_ratio_threshold=protocol.COMPRESSION_RATIO_THRESHOLD,
            log_prob_threshold=protocol.LOG_PROB_THRESHOLD, no_speech_threshold=protocol.NO_SPEECH_THRESHOLD,
            condition_on_previous_text=protocol.CONDITION_ON_PREVIOUS_TEXT,
            word_timestamps=protocol.WORD_TIMESTAMPS, vad_filter=protocol.VAD)
        # Segments are decoded lazily: consuming them is the transcription.
        text = "".join(s.text for s in segments).strip()
        return text, info.language


if __name__ == "__main__":
    protocol.main(FasterWhisper())
