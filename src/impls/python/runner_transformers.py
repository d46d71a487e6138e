"""Hugging Face transformers (WhisperForConditionalGeneration, PyTorch) behind the whisper-speedtest protocol.

Model: a transformers Whisper directory (config.json, model.safetensors, generation_config.json,
preprocessor_config.json, tokenizer files), given by path and loaded with local_files_only=True (the bridge
also sets HF_HUB_OFFLINE=1). Attention is SDPA where this torch has it (torch >= 2.1.1), else transformers'
eager attention; the version string says which. float32 on CPU, float16 on CUDA.

Decoding: generate() with the shared options: greedy (num_beams 1, no sampling at temperature 0), the
temperature fallback ladder with the compression-ratio, log-probability and no-speech thresholds, the previous
text as prompt (condition_on_prev_tokens), timestamps on (openai-whisper decodes with timestamp tokens). Audio
longer than 30 s goes whole with its attention mask (transformers' sequential long-form decoding).

Multilingual models: with a language and task in the prompt, the no-speech test runs the model once more on
the prompt, and transformers 4.49.0 (and 4.50, by the upstream reports) hands the prompt to forward() as
`input_ids`, which WhisperForConditionalGeneration.forward() does not take: every window fails with "forward()
got an unexpected keyword argument 'input_ids'" (huggingface/transformers PR #36809). English-only models never make that call
(their prompt is one token). The runner renames the key to `decoder_input_ids` (_fix_no_speech_inputs); the
no-speech probability it then gives is the model's softmax at <|startoftranscript|>, the value openai-whisper
computes, on transformers' own features.
"""

import protocol


def _version_tuple(v):
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _fix_no_speech_inputs(tf):
    """Makes WhisperNoSpeechDetection call the model with decoder_input_ids, not input_ids (see above).

    A no-op where transformers already passes decoder_input_ids (no `input_ids` key left to rename)."""
    try:
        from transformers.generation.logits_process import WhisperNoSpeechDetection
    except ImportError:
        return
    original = WhisperNoSpeechDetection.set_inputs
    if getattr(original, "_wst_fixed", False):
        return

    def set_inputs(self, inputs):
        original(self, inputs)
        ids = self.inputs.pop("input_ids", None)
        if ids is not None:
            self.inputs.setdefault("decoder_input_ids", ids)

    set_inputs._wst_fixed = True
    WhisperNoSpeechDetection.set_inputs = set_inputs


class Transformers(protocol.Peer):
    name = "transformers"

    def import_peer(self):
        try:
            import torch
        except ImportError as e:
            raise protocol.PeerMissing(f"torch cannot be imported (transformers needs it): {e}")
        try:
            import transformers
            from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: F401
        except ImportError as e:
            raise protocol.PeerMissing(f"transformers (with Whisper for torch {torch.__version__}) cannot be "
                                       f"imported: {e}")
        if not transformers.utils.is_torch_available():
            raise protocol.PeerMissing(f"transformers {transformers.__version__} cannot use torch {torch.__version__} "
                                       "(too old for it): pip install 'transformers<4.50' for this torch")
        if _version_tuple(transformers.__version__) < (4, 49):
            # Found on jfk.wav: 4.46.3 and 4.47.1 score the decoder prompt tokens against the generated tokens'
            # logits, so every window's average log-probability is -inf and every window goes down the whole
            # temperature ladder (a sampled, wrong and slow transcript). 4.49.0 is right.
            raise protocol.PeerMissing(f"transformers {transformers.__version__} miscomputes Whisper's average "
                                       "log-probability (every window falls back to sampling); needs >= 4.49")
        _fix_no_speech_inputs(transformers)
        self.torch, self.tf = torch, transformers
        return transformers.__version__

    def load(self, req):
        req.require_model_path(want_dir=True)
        import os
        for f in ("config.json", "model.safetensors"):
            if not os.path.isfile(os.path.join(req.model_path, f)):
                raise ValueError(f"{req.model_path}: not a transformers Whisper directory (no {f})")
        torch, tf = self.torch, self.tf
        torch.set_num_threads(req.threads())
        dtype = torch.float16 if req.device.startswith("cuda") else torch.float32
        kwargs = dict(local_files_only=True, torch_dtype=dtype)
        try:
            self.model = tf.WhisperForConditionalGeneration.from_pretrained(
                req.model_path, attn_implementation="sdpa", **kwargs)
        except (ImportError, ValueError) as e:
            print(f"SDPA unavailable ({e}); using eager attention", flush=True)
            self.model = tf.WhisperForConditionalGeneration.from_pretrained(
                req.model_path, attn_implementation="eager", **kwargs)
        self.model.to(req.device).eval()
        # The fast tokenizer reads tokenizer.json alone; the slow one would want vocab.json and merges.txt.
        self.features = tf.WhisperFeatureExtractor.from_pretrained(req.model_path, local_files_only=True)
        self.tokenizer = tf.WhisperTokenizerFast.from_pretrained(req.model_path, local_files_only=True)
        self.multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        self.dtype, self.req = dtype, req
        attention = getattr(self.model.config, "_attn_implementation", "?")
        return {
            "model_file": req.model_path,
            "format": "safetensors",
            "precision": "float16" if dtype == torch.float16 else "float32",
            "device": str(self.model.device),
            "n_threads": torch.get_num_threads(),
            "version": f"{tf.__version__} (torch {torch.__version__}, attention {attention})",
        }

    def transcribe(self, audio):
        r, torch = self.req, self.torch
        fe = dict(sampling_rate=protocol.SAMPLE_RATE, return_tensors="pt", return_attention_mask=True)
        inputs = self.features(audio, truncation=False, padding="longest", **fe)
        if inputs.input_features.shape[-1] < 3000:  # 30 s or less: one window, padded as Whisper was trained
            inputs = self.features(audio, **fe)
        kwargs = dict(
            attention_mask=inputs.attention_mask.to(r.device), num_beams=r.beam_size, do_sample=False,
            temperature=protocol.TEMPERATURES, compression_ratio_threshold=protocol.COMPRESSION_RATIO_THRESHOLD,
            logprob_threshold=protocol.LOG_PROB_THRESHOLD, no_speech_threshold=protocol.NO_SPEECH_THRESHOLD,
            condition_on_prev_tokens=protocol.CONDITION_ON_PREVIOUS_TEXT, return_timestamps=True)
        if self.multilingual:  # English-only models refuse a language or task
            kwargs.update(task="transcribe", language=r.language)
        with torch.inference_mode():
            ids = self.model.generate(inputs.input_features.to(r.device, self.dtype), **kwargs)
        if not isinstance(ids, torch.Tensor):  # some versions return a dict with "sequences"
            ids = ids["sequences"]
        text = self.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()
        return text, (r.language or "en") if not self.multilingual else (r.language or "")

    def device_problem(self, device):
        return protocol.torch_device_problem(self.torch, device)

    def peak_gpu_bytes(self):
        return protocol.torch_peak_gpu_bytes(self.torch, self.req.device)


if __name__ == "__main__":
    protocol.main(Transformers())
