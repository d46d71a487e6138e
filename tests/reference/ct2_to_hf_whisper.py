"""Writes a Hugging Face transformers Whisper directory from a CTranslate2 Whisper model, for the transformers
bridge test only (until `models convert`, issue 6, does it in C++). The output holds weights: write it under
/tmp, never into the repository.

Usage (a Python with transformers, which brings safetensors):
  /usr/bin/python3 tests/reference/ct2_to_hf_whisper.py [--model-dir DIR] --out /tmp/whisper-tiny.en-hf

What it writes:
  model.safetensors         float32 tensors under transformers' names (below); proj_out is tied to
                            model.decoder.embed_tokens (tie_word_embeddings), so it is not stored
  config.json               WhisperConfig: the sizes read from the weights, the special token ids looked up by
                            name in vocabulary.txt, suppress lists from the CTranslate2 config.json
  generation_config.json    what WhisperForConditionalGeneration.generate() reads: start/end/no-timestamps/
                            previous-text token ids, suppress lists, alignment heads, max_initial_timestamp_index
                            50 (1 s at 0.02 s per timestamp token, openai-whisper's max_initial_timestamp)
  preprocessor_config.json  WhisperFeatureExtractor at 16 kHz, n_fft 400, hop 160, 30 s chunks
  tokenizer.json            copied from the CTranslate2 directory (a tokenizers file with the special tokens),
                            with a tokenizer_config.json naming WhisperTokenizerFast

Names (openai-whisper, as ct2_to_openai_checkpoint.convert() gives them -> transformers):
  encoder.conv{1,2}                      -> model.encoder.conv{1,2}
  encoder.positional_embedding           -> model.encoder.embed_positions.weight
  {en,de}coder.blocks.{i}.attn.{query,key,value,out} -> model.{en,de}coder.layers.{i}.self_attn.{q,k,v,out}_proj
  {en,de}coder.blocks.{i}.attn_ln        -> ....self_attn_layer_norm
  decoder.blocks.{i}.cross_attn.{query,key,value,out} -> ....encoder_attn.{q,k,v,out}_proj
  decoder.blocks.{i}.cross_attn_ln       -> ....encoder_attn_layer_norm
  {en,de}coder.blocks.{i}.mlp.{0,2}      -> ....fc{1,2};   mlp_ln -> final_layer_norm
  encoder.ln_post                        -> model.encoder.layer_norm;   decoder.ln -> model.decoder.layer_norm
  decoder.token_embedding                -> model.decoder.embed_tokens
  decoder.positional_embedding           -> model.decoder.embed_positions.weight
"""

import json
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct2_to_openai_checkpoint as ct2  # noqa: E402


def hf_name(name):
    rules = [
        (r"^encoder\.positional_embedding$", "model.encoder.embed_positions.weight"),
        (r"^decoder\.positional_embedding$", "model.decoder.embed_positions.weight"),
        (r"^decoder\.token_embedding\.", "model.decoder.embed_tokens."),
        (r"^encoder\.ln_post\.", "model.encoder.layer_norm."),
        (r"^decoder\.ln\.", "model.decoder.layer_norm."),
        (r"^encoder\.conv", "model.encoder.conv"),
        (r"^(encoder|decoder)\.blocks\.(\d+)\.", r"model.\1.layers.\2."),
    ]
    for pattern, repl in rules:
        name = re.sub(pattern, repl, name)
    for a, b in ((".cross_attn_ln.", ".encoder_attn_layer_norm."), (".attn_ln.", ".self_attn_layer_norm."),
                 (".cross_attn.", ".encoder_attn."), (".attn.", ".self_attn."), (".mlp_ln.", ".final_layer_norm."),
                 (".mlp.0.", ".fc1."), (".mlp.2.", ".fc2."), (".query.", ".q_proj."), (".key.", ".k_proj."),
                 (".value.", ".v_proj."), (".out.", ".out_proj.")):
        name = name.replace(a, b)
    return name


def main():
    args, model_dir, dims, sd, ct2_config = ct2.load_for_conversion(__doc__.split("\n")[0])
    from safetensors.numpy import save_file
    tensors = {hf_name(k): np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}
    bad = [k for k in tensors if not k.startswith("model.")]
    if bad:
        raise ValueError(f"unmapped tensors: {bad}")

    with open(os.path.join(model_dir, "vocabulary.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")
    tok = {w: i for i, w in enumerate(vocab) if w.startswith("<|")}
    eot, sot = tok["<|endoftext|>"], tok["<|startoftranscript|>"]
    multilingual = dims["n_vocab"] >= 51865
    n_ffn = tensors["model.encoder.layers.0.fc1.weight"].shape[0]
    suppress = ct2_config.get("suppress_ids", [])
    begin_suppress = ct2_config.get("suppress_ids_begin", [220, eot])

    os.makedirs(args.out, exist_ok=True)
    save_file(tensors, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    config = {
        "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
        "vocab_size": dims["n_vocab"], "num_mel_bins": dims["n_mels"], "d_model": dims["n_audio_state"],
        "encoder_layers": dims["n_audio_layer"], "encoder_attention_heads": dims["n_audio_head"],
        "decoder_layers": dims["n_text_layer"], "decoder_attention_heads": dims["n_text_head"],
        "encoder_ffn_dim": n_ffn, "decoder_ffn_dim": n_ffn,
        "max_source_positions": dims["n_audio_ctx"], "max_target_positions": dims["n_text_ctx"],
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": True,
        "pad_token_id": eot, "bos_token_id": eot, "eos_token_id": eot, "decoder_start_token_id": sot,
        "suppress_tokens": suppress, "begin_suppress_tokens": begin_suppress, "torch_dtype": "float32",
    }
    generation = {
        "decoder_start_token_id": sot, "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot,
        "no_timestamps_token_id": tok["<|notimestamps|>"], "prev_sot_token_id": tok["<|startofprev|>"],
        "is_multilingual": multilingual, "max_initial_timestamp_index": 50, "max_length": dims["n_text_ctx"],
        "suppress_tokens": suppress, "begin_suppress_tokens": begin_suppress,
        "alignment_heads": ct2_config.get("alignment_heads", []),
        "forced_decoder_ids": None if not multilingual else [[1, None], [2, tok["<|transcribe|>"]]],
    }
    if multilingual:
        generation["lang_to_id"] = {w: i for w, i in tok.items() if i in set(ct2_config.get("lang_ids", []))}
        generation["task_to_id"] = {"transcribe": tok["<|transcribe|>"], "translate": tok["<|translate|>"]}
    preprocessor = {
        "feature_extractor_type": "WhisperFeatureExtractor", "processor_class": "WhisperProcessor",
        "feature_size": dims["n_mels"], "sampling_rate": 16000, "n_fft": 400, "hop_length": 160,
        "chunk_length": 30, "n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right",
        "padding_value": 0.0, "return_attention_mask": False,
    }
    tokenizer_config = {"tokenizer_class": "WhisperTokenizerFast", "model_max_length": 1024,
                        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                        "pad_token": "<|endoftext|>", "processor_class": "WhisperProcessor"}
    for name, obj in (("config.json", config), ("generation_config.json", generation),
                      ("preprocessor_config.json", preprocessor), ("tokenizer_config.json", tokenizer_config)):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
    shutil.copyfile(os.path.join(model_dir, "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))
    print(f"wrote {args.out}: {len(tensors)} tensors, {dims}", file=sys.stderr)


if __name__ == "__main__":
    main()
