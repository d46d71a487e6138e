// Writes whisper.cpp ggml model files byte by byte for tests, independently of formats/ggml_writer.cpp, so
// that tests can make good files, quantised ones and broken ones (every offset is recorded).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "formats/whisper_weights.h"

namespace wst::test {

class GgmlBuilder {
 public:
  GgmlBuilder& i32(int32_t v) { return raw(&v, 4); }
  GgmlBuilder& raw(const void* p, size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  // Magic, hyperparameters, file type, an n_mels x 201 filterbank and the vocabulary.
  GgmlBuilder& header(const formats::WhisperDims& d, int32_t ftype, const std::vector<float>& filters,
                      const std::vector<std::string>& vocab) {
    i32(0x67676d6c);
    for (int v : {d.n_vocab, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer, d.n_text_ctx,
                  d.n_text_state, d.n_text_head, d.n_text_layer, d.n_mels})
      i32(v);
    i32(ftype);
    i32(d.n_mels).i32(201);
    raw(filters.data(), filters.size() * 4);
    vocab_at_ = bytes_.size();
    i32(static_cast<int32_t>(vocab.size()));
    for (const auto& t : vocab) i32(static_cast<int32_t>(t.size())).raw(t.data(), t.size());
    return *this;
  }
  // One tensor record: ne innermost first, ggml type id, raw data.
  GgmlBuilder& tensor(const std::string& name, const std::vector<int32_t>& ne, int32_t type, const std::string& data) {
    tensor_at_[name] = bytes_.size();
    i32(static_cast<int32_t>(ne.size())).i32(static_cast<int32_t>(name.size())).i32(type);
    for (int32_t v : ne) i32(v);
    raw(name.data(), name.size());
    data_at_[name] = bytes_.size();
    return raw(data.data(), data.size());
  }

  std::string& bytes() { return bytes_; }
  size_t vocab_at() const { return vocab_at_; }
  size_t tensor_at(const std::string& name) const { return tensor_at_.at(name); }
  size_t data_at(const std::string& name) const { return data_at_.at(name); }

 private:
  std::string bytes_;
  size_t vocab_at_ = 0;
  std::map<std::string, size_t> tensor_at_, data_at_;
};

// ggml dims (innermost first) of an openai-whisper tensor, as whisper.cpp stores it: conv biases [n, 1].
inline std::vector<int32_t> ggml_ne(const std::string& name, const std::vector<int64_t>& shape) {
  std::vector<int32_t> ne(shape.rbegin(), shape.rend());
  if (name == "encoder.conv1.bias" || name == "encoder.conv2.bias") ne.insert(ne.begin(), 1);
  return ne;
}

// A whole float32 ggml file (file type 0) of `w`, tensors in expected_tensors() order.
inline GgmlBuilder ggml_f32_file(const formats::WhisperWeights& w) {
  GgmlBuilder b;
  b.header(w.dims, 0, w.mel_filters, w.vocab);
  for (const auto& [name, shape] : formats::expected_tensors(w.dims)) {
    std::vector<float> v = w.get(name, shape).to_f32();
    b.tensor(name, ggml_ne(name, shape), 0, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  }
  return b;
}

}  // namespace wst::test
