// Tensor names of the Hugging Face transformers and MLX Whisper layouts, to and from OpenAI's (the names of
// WhisperWeights, formats/whisper_weights.h).
//
//   OpenAI                                    transformers (WhisperForConditionalGeneration)
//   encoder.conv{1,2}.*                       model.encoder.conv{1,2}.*
//   encoder.positional_embedding              model.encoder.embed_positions.weight
//   {en,de}coder.blocks.N.attn.{query,key,value,out}.*   model.{en,de}coder.layers.N.self_attn.{q,k,v,out}_proj.*
//   {en,de}coder.blocks.N.attn_ln.*           ....self_attn_layer_norm.*
//   decoder.blocks.N.cross_attn.{query,...}.* ....encoder_attn.{q,k,v,out}_proj.*
//   decoder.blocks.N.cross_attn_ln.*          ....encoder_attn_layer_norm.*
//   {en,de}coder.blocks.N.mlp.{0,2}.*         ....fc{1,2}.*;    mlp_ln.* -> final_layer_norm.*
//   encoder.ln_post.*, decoder.ln.*           model.encoder.layer_norm.*, model.decoder.layer_norm.*
//   decoder.token_embedding.weight            model.decoder.embed_tokens.weight (proj_out.weight: tied to it)
//   decoder.positional_embedding              model.decoder.embed_positions.weight
//
// MLX (mlx-whisper's model.py) keeps OpenAI's names except the two MLP layers: blocks.N.mlp1 / blocks.N.mlp2
// for blocks.N.mlp.0 / blocks.N.mlp.2.
#pragma once

#include <optional>
#include <string>

namespace wst::formats {

// std::nullopt for a name outside the mapping (a tensor Whisper does not have).
std::optional<std::string> openai_to_hf(const std::string& name);
std::optional<std::string> hf_to_openai(const std::string& name);
std::string openai_to_mlx(const std::string& name);
std::string mlx_to_openai(const std::string& name);

}  // namespace wst::formats
