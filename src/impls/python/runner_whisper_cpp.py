"""whisper.cpp, through its Python binding pywhispercpp, behind the whisper-speedtest line protocol.

Model: a ggml file given by path. pywhispercpp downloads a model when its argument is not an existing file,
so the runner checks that the path is a file before handing it over. whisper.cpp's decoding is told the
shared options: greedy with best_of 1, temperature 0 then +0.2 steps up to 1.0, log-probability threshold
-1.0, no-speech threshold 0.6, no VAD, no timestamps printed. Previous text as prompt: whisper_full() always
prompts each 30 s window with the windows before it in the same call; no_context only says whether the text of
the *previous call* is kept as well. It is True here, so every transcription starts afresh as openai-whisper's
transcribe() does (with False, each timed run was prompted with the last run's transcript: on the bundled
espeak clip the second run hallucinated or came back empty). whisper.cpp has no compression-ratio test: its
fallback uses an entropy threshold (entropy_thold 2.4, its default) instead; the report says so. No language
asked means English on an English-only model, as openai-whisper decides, and is reported so.
"""

import protocol


class WhisperCpp(protocol.Peer):
    name = "whisper.cpp"

    def import_peer(self):
        try:
            import pywhispercpp.model
        except ImportError as e:
            raise protocol.PeerMissing(f"pywhispercpp cannot be imported: {e}")
        from importlib.metadata import version
        self.pwc = pywhispercpp.model
        self.version = version("pywhispercpp")
        return self.version

    def load(self, req):
        req.require_model_path(want_dir=False)
        with open(req.model_path, "rb") as f:
            magic = f.read(4)
        if magic not in (b"lmgg", b"GGUF"):  # 0x67676d6c little-endian; GGUF for newer files
            raise ValueError(f"{req.model_path}: not a ggml model file (magic {magic!r})")
        if req.device != "cpu":
            raise ValueError(f"device {req.device!r}: this pywhispercpp build runs on the CPU only")
        language = req.language or ("" if self._multilingual(req.model_path) else "en")
        params = dict(
            n_threads=req.threads(), language=language, translate=False,
            no_context=True,  # see above: within a call whisper.cpp conditions on the previous text regardless
            temperature=protocol.TEMPERATURES[0], temperature_inc=protocol.TEMPERATURES[1] - protocol.TEMPERATURES[0],
            logprob_thold=protocol.LOG_PROB_THRESHOLD, no_speech_thold=protocol.NO_SPEECH_THRESHOLD,
            entropy_thold=protocol.COMPRESSION_RATIO_THRESHOLD, token_timestamps=protocol.WORD_TIMESTAMPS,
            vad=protocol.VAD, print_progress=False, print_realtime=False, print_timestamps=False)
        if req.beam_size > 1:
            strategy = 1
            params["beam_search"] = {"beam_size": req.beam_size, "patience": -1.0}
        else:
            strategy = 0
            params["greedy"] = {"best_of": protocol.BEST_OF}
        self.model = self.pwc.Model(req.model_path, params_sampling_strategy=strategy,
                                    redirect_whispercpp_logs_to=None, **params)
        self.language = language
        precision = self._precision(req.model_path)
        return {
            "model_file": req.model_path,
            "format": "ggml-q8_0" if precision == "q8_0" else "ggml",
            "precision": precision,
            "device": "cpu",
            "n_threads": req.threads(),
            "version": f"pywhispercpp {self.version}",
        }

    @staticmethod
    def _multilingual(path):
        """From the ggml header's n_vocab (the first hyperparameter): 51865 and up is multilingual, the rule
        openai-whisper's Whisper.is_multilingual uses. GGUF files are taken as multilingual (detection stays)."""
        import struct
        with open(path, "rb") as f:
            head = f.read(8)
        if head[:4] != b"lmgg" or len(head) < 8:
            return True
        return struct.unpack("<i", head[4:8])[0] >= 51865

    @staticmethod
    def _precision(path):
        """The ftype field of a ggml header (after the magic and ten int32 hyperparameters)."""
        import struct
        with open(path, "rb") as f:
            head = f.read(48)
        if head[:4] != b"lmgg" or len(head) < 48:
            return "unknown"
        ftype = struct.unpack("<i", head[44:48])[0] % 1000  # whisper.cpp adds 1000 * quantization version
        return {0: "float32", 1: "float16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1"}.get(
            ftype, f"ftype {ftype}")

    def transcribe(self, audio):
        segments = self.model.transcribe(audio)
        # pywhispercpp strips each segment's text, so the segments are joined with a space.
        text = " ".join(t for t in (s.text.strip() for s in segments) if t)
        return text, self.language or ""


if __name__ == "__main__":
    protocol.main(WhisperCpp())
