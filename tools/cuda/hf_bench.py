#!/usr/bin/env python3
"""HF transformers' Whisper on the GPU machine, timed with the protocol of tools/cuda/cuda_bench.cpp.

Random weights of the real architectures (speed does not depend on the values), float16, SDPA attention,
batch 1: one 30 s encoder window (CUDA events, median of --reps after 3 warm-ups) and one decoder step with
the KV cache at 100 positions and cross-attention over 1500 frames, logits copied to the host (host clock,
median of --reps after 5), the cache cropped back to 100 positions after each step.

  python3 tools/cuda/hf_bench.py [--reps 30] [arch ...]      (archs: tiny base small large-v3-turbo large-v3)
Needs torch with CUDA and transformers (the GPU machine's image has both).
"""
import argparse
import statistics
import time

import torch
import transformers
from transformers import WhisperConfig, WhisperForConditionalGeneration

# (d_model, heads, encoder layers, decoder layers, mels, vocab): the published architectures.
ARCHS = {
    "tiny": (384, 6, 4, 4, 80, 51865),
    "base": (512, 8, 6, 6, 80, 51865),
    "small": (768, 12, 12, 12, 80, 51865),
    "large-v3-turbo": (1280, 20, 32, 4, 128, 51866),
    "large-v3": (1280, 20, 32, 32, 128, 51866),
}


def model_for(arch):
    d, heads, enc_layers, dec_layers, mels, vocab = ARCHS[arch]
    cfg = WhisperConfig(vocab_size=vocab, num_mel_bins=mels, d_model=d, encoder_layers=enc_layers,
                        decoder_layers=dec_layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
                        encoder_ffn_dim=4 * d, decoder_ffn_dim=4 * d, max_source_positions=1500,
                        max_target_positions=448)
    torch.manual_seed(0)
    m = WhisperForConditionalGeneration._from_config(cfg, attn_implementation="sdpa", torch_dtype=torch.float16)
    return m.to("cuda").eval(), mels


def median_events(fn, warm, reps):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


@torch.inference_mode()
def bench(arch, reps):
    model, mels = model_for(arch)
    feats = torch.randn(1, mels, 3000, device="cuda", dtype=torch.float16)
    encoder = model.model.encoder
    enc_ms = median_events(lambda: encoder(feats), 3, reps)
    enc = encoder(feats).last_hidden_state
    # Prefill 100 tokens, then time one-token steps from position 100.
    prompt = torch.full((1, 100), 220, dtype=torch.long, device="cuda")
    out = model(encoder_outputs=(enc,), decoder_input_ids=prompt, use_cache=True)
    cache = out.past_key_values
    step_ids = torch.full((1, 1), 220, dtype=torch.long, device="cuda")
    times = []
    for i in range(5 + reps):
        t0 = time.perf_counter()
        o = model(encoder_outputs=(enc,), decoder_input_ids=step_ids, past_key_values=cache, use_cache=True)
        logits = o.logits[0, -1].float().cpu()
        t1 = time.perf_counter()
        cache = o.past_key_values
        cache.crop(100)
        if i >= 5:
            times.append((t1 - t0) * 1e3)
    assert torch.isfinite(logits).all(), "logits not finite"
    assert cache.get_seq_length() == 100, cache.get_seq_length()
    peak = torch.cuda.max_memory_allocated() / 2**30
    del model, enc, cache, out, o
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return enc_ms, statistics.median(times), peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("archs", nargs="*", default=["tiny", "small", "large-v3-turbo", "large-v3"])
    a = ap.parse_args()
    print(f"HF transformers {transformers.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}, "
          f"float16, sdpa, batch 1, medians of {a.reps}")
    print(f"{'model':<15} {'enc ms':>9} {'step ms':>9} {'peak GiB':>9}")
    for arch in a.archs:
        try:
            e, s, p = bench(arch, a.reps)
            print(f"{arch:<15} {e:9.2f} {s:9.3f} {p:9.2f}", flush=True)
        except Exception as ex:  # one architecture failing must not hide the others
            print(f"{arch:<15} FAILED: {type(ex).__name__}: {ex}", flush=True)


if __name__ == "__main__":
    main()
