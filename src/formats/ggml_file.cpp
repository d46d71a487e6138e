// Reader of whisper.cpp's ggml model file; the layout is described in ggml_file.h. The file is untrusted:
// every read is checked against its end and every size against overflow before anything is allocated.
#include "formats/ggml_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <set>

#include "formats/ggml_types.h"
#include "formats/weight_io.h"
#include "util/errors.h"
#include "util/mapped_file.h"

namespace wst::formats {

namespace {

constexpr uint32_t kMagic = 0x67676d6c;
constexpr int32_t kQuantVersion = 2;  // ggml's GGML_QNT_VERSION: the block layouts in ggml_types.h
constexpr int32_t kMaxNameBytes = 1024;
constexpr int kMelBins = 201;  // 1 + n_fft / 2 with Whisper's n_fft of 400

// A cursor over the file that refuses to step past its end.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  void need(size_t n, const std::string& what) const {
    if (n > size_ - pos_)
      throw Error(path_ + ": truncated at byte " + std::to_string(pos_) + " while reading " + what + " (file is " +
                  std::to_string(size_) + " bytes)");
  }
  int32_t i32(const std::string& what) {
    need(4, what);
    int32_t v;
    std::memcpy(&v, data_ + pos_, 4);
    pos_ += 4;
    return v;
  }
  uint32_t u32(const std::string& what) { return static_cast<uint32_t>(i32(what)); }
  // Steps over n bytes and returns where they start.
  const uint8_t* take(size_t n, const std::string& what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

WhisperDims read_dims(Cursor& c, const std::string& path) {
  WhisperDims d;
  int* fields[] = {&d.n_vocab,     &d.n_audio_ctx, &d.n_audio_state, &d.n_audio_head, &d.n_audio_layer,
                   &d.n_text_ctx,  &d.n_text_state, &d.n_text_head,  &d.n_text_layer, &d.n_mels};
  const char* names[] = {"n_vocab",    "n_audio_ctx",  "n_audio_state", "n_audio_head", "n_audio_layer",
                         "n_text_ctx", "n_text_state", "n_text_head",   "n_text_layer", "n_mels"};
  for (size_t i = 0; i < std::size(fields); ++i) {
    *fields[i] = c.i32(std::string("the hyperparameter ") + names[i]);
    if (*fields[i] <= 0 || *fields[i] > (1 << 20))
      throw Error(path + ": not a Whisper model (" + names[i] + " is " + std::to_string(*fields[i]) + ")");
  }
  return d;
}

struct TensorHeader {
  std::string name;
  std::vector<int64_t> ne;  // innermost first
  int32_t type = 0;
  size_t at = 0;  // byte offset of the header, for messages
};

TensorHeader read_tensor_header(Cursor& c, const std::string& path) {
  TensorHeader h;
  h.at = c.pos();
  const std::string where = "the tensor header at byte " + std::to_string(h.at);
  const int32_t n_dims = c.i32(where);
  const int32_t name_len = c.i32(where);
  h.type = c.i32(where);
  if (n_dims < 0 || n_dims > 4)
    throw Error(path + ": the tensor at byte " + std::to_string(h.at) + " has " + std::to_string(n_dims) +
                " dimensions (ggml allows 0 to 4)");
  if (name_len <= 0 || name_len > kMaxNameBytes)
    throw Error(path + ": the tensor at byte " + std::to_string(h.at) + " has a name of " + std::to_string(name_len) +
                " bytes (expected 1 to " + std::to_string(kMaxNameBytes) + ")");
  for (int32_t i = 0; i < n_dims; ++i) h.ne.push_back(c.i32(where));
  const uint8_t* name = c.take(static_cast<size_t>(name_len), "the name of the tensor at byte " + std::to_string(h.at));
  h.name.assign(reinterpret_cast<const char*>(name), static_cast<size_t>(name_len));
  for (int64_t d : h.ne)
    if (d <= 0) throw Error(path + ": tensor " + h.name + " has a dimension of " + std::to_string(d));
  return h;
}

// openai-whisper's shape of a tensor stored with ggml dims `ne`: reversed, and the conv biases, which
// whisper.cpp keeps as [n_state, 1], back to [n_state].
std::vector<int64_t> openai_shape(const TensorHeader& h) {
  std::vector<int64_t> shape(h.ne.rbegin(), h.ne.rend());
  const bool conv_bias = h.name == "encoder.conv1.bias" || h.name == "encoder.conv2.bias";
  if (conv_bias && shape.size() == 2 && shape[1] == 1) shape.pop_back();
  return shape;
}

// Adds one tensor's data (at `data`, exactly its size) to `w`: a view when the format allows it,
// else a copy or a dequantised float32 buffer.
void add_tensor(WhisperWeights& w, const TensorHeader& h, GgmlType type, size_t n_elements, const uint8_t* data,
                size_t n_bytes) {
  std::vector<int64_t> shape = openai_shape(h);
  if (type == GgmlType::kF32 || type == GgmlType::kF16) {
    const DType dt = type == GgmlType::kF32 ? DType::kF32 : DType::kF16;
    // ggml data sits at any offset; a view is only handed out where elements are naturally aligned.
    if (reinterpret_cast<uintptr_t>(data) % dtype_size(dt) == 0) {
      w.add_view(h.name, std::move(shape), dt, data, n_bytes);
    } else {
      w.add_owned(h.name, std::move(shape), dt, std::vector<uint8_t>(data, data + n_bytes));
    }
    return;
  }
  std::vector<uint8_t> out(n_elements * sizeof(float));
  std::vector<float> block(ggml_block_weights(type));
  const size_t n_blocks = n_elements / block.size();
  for (size_t b = 0; b < n_blocks; ++b) {
    ggml_dequantize(type, data + b * ggml_block_bytes(type), 1, block.data());
    std::memcpy(out.data() + b * block.size() * sizeof(float), block.data(), block.size() * sizeof(float));
  }
  w.add_owned(h.name, std::move(shape), DType::kF32, std::move(out));
}

}  // namespace

int ggml_ordinary_tokens(int n_vocab) { return n_vocab >= 51865 ? 50257 : 50256; }

WhisperWeights parse_ggml(const uint8_t* bytes, size_t size, const std::string& path, bool check_complete) {
  Cursor c(bytes, size, path);
  WhisperWeights w;
  w.format = "ggml";
  w.path = path;

  const uint32_t magic = c.u32("the magic number");
  if (magic != kMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    throw Error(path + ": not a ggml model file (magic " + hex + ", expected 0x67676d6c)");
  }
  w.dims = read_dims(c, path);
  const int32_t ftype = c.i32("the file type");
  if (ftype < 0) throw Error(path + ": corrupt file type " + std::to_string(ftype));
  const int32_t quant_version = ftype / 1000;

  // Mel filterbank.
  const int32_t n_mel = c.i32("the mel filter rows"), n_fft = c.i32("the mel filter columns");
  if (n_mel != w.dims.n_mels || n_fft != kMelBins)
    throw Error(path + ": the mel filters are [" + std::to_string(n_mel) + ", " + std::to_string(n_fft) +
                "], expected [" + std::to_string(w.dims.n_mels) + ", " + std::to_string(kMelBins) + "]");
  const size_t n_filters = static_cast<size_t>(n_mel) * n_fft;
  const uint8_t* filters = c.take(n_filters * sizeof(float), "the mel filters");
  w.mel_filters.resize(n_filters);
  std::memcpy(w.mel_filters.data(), filters, n_filters * sizeof(float));

  // Vocabulary: keep the ordinary tokens (a file converted from Hugging Face's vocab.json also lists some
  // specials as text after them).
  const int32_t n_tokens = c.i32("the vocabulary size");
  if (n_tokens < 0) throw Error(path + ": corrupt vocabulary size " + std::to_string(n_tokens));
  const size_t keep = std::min<size_t>({static_cast<size_t>(n_tokens), static_cast<size_t>(w.dims.n_vocab),
                                        static_cast<size_t>(ggml_ordinary_tokens(w.dims.n_vocab))});
  w.vocab.reserve(std::min(keep, c.left() / 4));  // each token takes at least its 4-byte length
  for (int32_t i = 0; i < n_tokens; ++i) {
    const std::string what = "vocabulary token " + std::to_string(i);
    const uint32_t len = c.u32(what);
    const uint8_t* p = c.take(len, what);
    if (static_cast<size_t>(i) < keep) w.vocab.emplace_back(reinterpret_cast<const char*>(p), len);
  }

  // Tensors until the end of the file.
  std::set<std::string> seen;
  while (c.left() > 0) {
    TensorHeader h = read_tensor_header(c, path);
    if (!seen.insert(h.name).second) throw Error(path + ": tensor " + h.name + " appears twice");
    if (!ggml_type_readable(h.type))
      throw Error(path + ": tensor " + h.name + " has ggml type " + std::to_string(h.type) + " (" +
                  ggml_type_name(h.type) + "), which this tool does not read");
    const auto type = static_cast<GgmlType>(h.type);
    const size_t per_block = ggml_block_weights(type);
    if (per_block > 1) {
      if (quant_version != kQuantVersion)
        throw Error(path + ": tensor " + h.name + " is " + ggml_type_name(h.type) + " of quantisation version " +
                    std::to_string(quant_version) + ", this tool reads version " + std::to_string(kQuantVersion));
      if (h.ne.empty() || h.ne[0] % static_cast<int64_t>(per_block) != 0)
        throw Error(path + ": tensor " + h.name + " is " + ggml_type_name(h.type) + " but its rows are not whole " +
                    std::to_string(per_block) + "-weight blocks");
    }
    // Element count, checked against what the bytes left can hold before each product (no overflow).
    const size_t max_elements = c.left() * per_block;
    size_t n_elements = 1;
    for (int64_t d : h.ne) {
      if (static_cast<size_t>(d) > max_elements / n_elements)
        c.need(c.left() + 1, "the data of tensor " + h.name);  // more than is left: the truncation error
      n_elements *= static_cast<size_t>(d);
    }
    const size_t n_bytes = n_elements / per_block * ggml_block_bytes(type);
    const uint8_t* data = c.take(n_bytes, "the data of tensor " + h.name);
    add_tensor(w, h, type, n_elements, data, n_bytes);
  }
  if (check_complete) w.validate();
  return w;
}

WhisperWeights read_ggml(const std::string& file) {
  auto mapped = std::make_shared<MappedFile>(file);
  WhisperWeights w = parse_ggml(mapped->data(), mapped->size(), file);
  w.keep_alive(mapped);
  return w;
}

}  // namespace wst::formats
