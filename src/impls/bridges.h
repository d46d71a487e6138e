// Factories for the bridges to peer implementations, one per registry entry. Each returns a PythonBridge
// (src/impls/python_bridge.h) driving that peer's runner in src/impls/python/. Nothing starts until
// unavailable_reason() or load() is called. Model paths are in the peer's own format (ImplParams::model_path):
//
//   id                       format        model_path
//   faster-whisper           ctranslate2   a CTranslate2 directory (model.bin, config.json, tokenizer.json)
//   faster-whisper-int8      ctranslate2   same, compute type int8
//   faster-whisper-batched   ctranslate2   same, float32, BatchedInferencePipeline (fixed 30 s windows, 8 a batch)
//   faster-whisper-cuda      ctranslate2   same, float16 on the GPU (device "cuda")
//   openai-whisper           openai        an openai-whisper .pt checkpoint
//   whisper.cpp              ggml          a ggml-*.bin file
//   transformers             safetensors   a Hugging Face model directory (config.json, model.safetensors, ...)
//   transformers-cuda        safetensors   same, float16 on the GPU (device "cuda")
//   mlx-whisper              mlx           an MLX model directory (config.json, weights.safetensors / .npz)
//   whisper-mps              openai        an openai-whisper .pt checkpoint (whisper-mps converts it itself)
//   lightning-whisper-mlx    mlx           an MLX model directory (as mlx-whisper; fixed 30 s windows, 12 a batch)
#pragma once

#include <memory>

#include "wst/implementation.h"

namespace wst {

std::unique_ptr<Implementation> make_faster_whisper();          // compute type float32
std::unique_ptr<Implementation> make_faster_whisper_int8();
std::unique_ptr<Implementation> make_faster_whisper_cuda();       // float16 on the GPU
std::unique_ptr<Implementation> make_faster_whisper_batched();
std::unique_ptr<Implementation> make_openai_whisper();
std::unique_ptr<Implementation> make_whisper_cpp();
std::unique_ptr<Implementation> make_whisper_cpp_q8_0();
std::unique_ptr<Implementation> make_transformers();
std::unique_ptr<Implementation> make_transformers_cuda();
std::unique_ptr<Implementation> make_mlx_whisper();
std::unique_ptr<Implementation> make_whisper_mps();
std::unique_ptr<Implementation> make_lightning_whisper_mlx();

}  // namespace wst
