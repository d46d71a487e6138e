// Every architecture in the catalog (tiny ... large-v3, large-v3-turbo) against what the weight readers and the
// engine's loader expect, without holding a byte of weights (large-v3 is 1.5 B parameters):
//   1. the catalog's dims are openai-whisper's published ones (a table written here, not read from the catalog);
//   2. the full tensor table of each architecture (names and shapes, as views with no data behind them) passes
//      WhisperWeights::validate(), the shape check engine::load_whisper runs first, and a wrong table does not;
//   3. each table is written as a transformers directory by the product's safetensors header writer and
//      config.json writer, the data region left as a hole in a sparse file, and read back by the product's
//      reader (read_safetensors_dir maps the file and reads the header only): same dims, same tensors; the
//      header check of check-models passes on it;
//   4. where real weights are on the machine (tiny.en, base), the dims read from them are the catalog's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "formats/weight_io.h"
#include "formats/weight_names.h"
#include "models/catalog.h"
#include "models/verify.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::models {
namespace {

namespace fs = std::filesystem;
using formats::DType;
using formats::WhisperDims;
using formats::WhisperWeights;

WhisperDims dims_of(const Arch& a) {
  WhisperDims d;
  d.n_mels = a.n_mels, d.n_vocab = a.n_vocab, d.n_audio_ctx = a.n_audio_ctx, d.n_audio_state = a.n_audio_state;
  d.n_audio_head = a.n_audio_head, d.n_audio_layer = a.n_audio_layer, d.n_text_ctx = a.n_text_ctx;
  d.n_text_state = a.n_text_state, d.n_text_head = a.n_text_head, d.n_text_layer = a.n_text_layer;
  return d;
}

// openai-whisper's ModelDimensions of each checkpoint it publishes (the `dims` stored in every .pt), and the
// parameter counts of its README (millions, rounded there). Every model has 1500 audio and 448 text positions
// and the same width and head count in encoder and decoder.
struct Known {
  std::string name;
  int n_mels, n_vocab, width, n_head, n_audio_layer, n_text_layer;
  double params_m;
};
const std::vector<Known> kKnown = {
    {"tiny.en", 80, 51864, 384, 6, 4, 4, 39},          {"tiny", 80, 51865, 384, 6, 4, 4, 39},
    {"base.en", 80, 51864, 512, 8, 6, 6, 74},          {"base", 80, 51865, 512, 8, 6, 6, 74},
    {"small.en", 80, 51864, 768, 12, 12, 12, 244},     {"small", 80, 51865, 768, 12, 12, 12, 244},
    {"medium.en", 80, 51864, 1024, 16, 24, 24, 769},   {"medium", 80, 51865, 1024, 16, 24, 24, 769},
    {"large-v1", 80, 51865, 1280, 20, 32, 32, 1550}, {"large-v2", 80, 51865, 1280, 20, 32, 32, 1550},
    {"large-v3", 128, 51866, 1280, 20, 32, 32, 1550}, {"large-v3-turbo", 128, 51866, 1280, 20, 32, 4, 809},
};

// The whole tensor table of `d` as views: every TensorRef has its shape, dtype and byte count, and points at one
// byte that is never read (validate() and the header writer look at shapes and sizes only).
WhisperWeights table_of(const WhisperDims& d, const std::string& path) {
  static const uint8_t kNoData = 0;
  WhisperWeights w;
  w.dims = d;
  w.path = path;
  for (const auto& [name, shape] : formats::expected_tensors(d)) {
    size_t n = formats::dtype_size(DType::kF16);
    for (int64_t x : shape) n *= static_cast<size_t>(x);
    w.add_view(name, shape, DType::kF16, &kNoData, n);
  }
  return w;
}

uint64_t n_params(const WhisperWeights& w) {
  uint64_t n = 0;
  for (const auto& [name, t] : w.tensors) n += t.n_elements();
  return n;
}

TEST(CatalogArch, EveryModelHasOpenaiWhispersDims) {
  const Catalog& cat = Catalog::instance();
  std::vector<std::string> names;
  for (const auto& k : kKnown) names.push_back(k.name);
  EXPECT_EQ(cat.names(), names);
  EXPECT_EQ(cat.canonical("large"), "large-v3");
  EXPECT_EQ(cat.canonical("turbo"), "large-v3-turbo");
  for (const auto& k : kKnown) {
    const Arch& a = cat.model(k.name).arch;
    SCOPED_TRACE(k.name);
    EXPECT_EQ(a.n_mels, k.n_mels);
    EXPECT_EQ(a.n_vocab, k.n_vocab);
    EXPECT_EQ(a.n_audio_ctx, 1500);
    EXPECT_EQ(a.n_text_ctx, 448);
    EXPECT_EQ(a.n_audio_state, k.width);
    EXPECT_EQ(a.n_text_state, k.width);
    EXPECT_EQ(a.n_audio_head, k.n_head);
    EXPECT_EQ(a.n_text_head, k.n_head);
    EXPECT_EQ(a.n_audio_layer, k.n_audio_layer);
    EXPECT_EQ(a.n_text_layer, k.n_text_layer);
    // 51864 tokens for English-only models, 51865 for multilingual ones, 51866 from large-v3 on (a language
    // token was added): the catalog's multilingual flag agrees with the vocabulary.
    EXPECT_EQ(cat.model(k.name).multilingual, k.n_vocab >= 51865);
  }
  // The facts most often got wrong, pinned by name.
  EXPECT_EQ(cat.model("large").arch.n_mels, 128);
  EXPECT_EQ(cat.model("large").arch.n_vocab, 51866);
  EXPECT_EQ(cat.model("turbo").arch.n_text_layer, 4);
  EXPECT_EQ(cat.model("turbo").arch.n_audio_layer, 32);
  for (const auto& n : cat.names()) {
    if (n.size() > 3 && n.compare(n.size() - 3, 3, ".en") == 0) EXPECT_EQ(cat.model(n).arch.n_vocab, 51864) << n;
  }
}

TEST(CatalogArch, EveryTensorTablePassesTheLoadersShapeCheck) {
  const Catalog& cat = Catalog::instance();
  for (const auto& k : kKnown) {
    SCOPED_TRACE(k.name);
    const WhisperDims d = dims_of(cat.model(k.name).arch);
    WhisperWeights w = table_of(d, "catalog " + k.name);
    EXPECT_NO_THROW(w.validate());
    // The published parameter counts are rounded (tiny's "39 M" is 37.8 M): within 4.5 % tells every model
    // from its neighbours, turbo from large-v3 included.
    EXPECT_NEAR(static_cast<double>(n_params(w)) / 1e6, k.params_m, 0.045 * k.params_m);
    // A table of the other mel count is refused, naming the tensor and both shapes.
    WhisperDims other = d;
    other.n_mels = d.n_mels == 80 ? 128 : 80;
    WhisperWeights wrong = table_of(other, "catalog " + k.name);
    wrong.dims = d;
    try {
      wrong.validate();
      ADD_FAILURE() << "a table with " << other.n_mels << " mel bins passed as " << k.name;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()),
                "catalog " + k.name + ": tensor encoder.conv1.weight has shape [" + std::to_string(d.n_audio_state) + ", " +
                    std::to_string(other.n_mels) + ", 3], expected [" + std::to_string(d.n_audio_state) + ", " +
                    std::to_string(d.n_mels) + ", 3]");
    }
  }
}

// Writes `w`'s table as a transformers directory whose model.safetensors has the real header and a hole where
// the data would be; returns the bytes the file really occupies on disk.
uint64_t write_header_only_hf_dir(const WhisperWeights& w, const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<formats::SafetensorsEntry> entries;
  for (const auto& [name, shape] : formats::expected_tensors(w.dims)) {
    auto hf = formats::openai_to_hf(name);
    if (!hf) throw Error("no transformers name for " + name);
    entries.push_back({*hf, w.get(name, shape)});
  }
  const std::string file = (dir / "model.safetensors").string();
  uint64_t data_bytes = 0;
  const std::string head = formats::safetensors_header(entries, {{"format", "pt"}}, std::nullopt, file, &data_bytes);
  {
    std::ofstream out(file, std::ios::binary);
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
  }
  fs::resize_file(file, head.size() + data_bytes);  // the data region: a hole, no block allocated
  std::ofstream(dir / "config.json") << formats::hf_config_json(w, DType::kF16).dump(1);
  struct stat st {};
  ::stat(file.c_str(), &st);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

TEST(CatalogArch, EveryTableRoundTripsThroughTheSafetensorsHeader) {
  const Catalog& cat = Catalog::instance();
  test::TempDir t;
  for (const auto& name : cat.names()) {
    SCOPED_TRACE(name);
    const WhisperDims d = dims_of(cat.model(name).arch);
    const WhisperWeights w = table_of(d, "catalog " + name);
    const fs::path dir = t / name;
    const uint64_t on_disk = write_header_only_hf_dir(w, dir);
    const uint64_t size = fs::file_size(dir / "model.safetensors");
    if (on_disk >= size / 2)
      GTEST_SKIP() << t.path() << " does not keep sparse files (" << on_disk << " of " << size
                   << " bytes allocated); this test will not write " << size << " bytes of zeros";
    EXPECT_GT(size, n_params(w) * 2) << "the data region is the whole model in float16";
    // check-models --verify header reads the same header and finds the data region complete.
    const FileCheck header = check_header(dir / "model.safetensors", Format::kHf);
    EXPECT_EQ(header.status, Status::kComplete) << header.detail;
    // The reader maps the file and reads the header only; the tensors it describes are the architecture's.
    WhisperWeights r = formats::read_safetensors_dir(dir.string());
    EXPECT_EQ(r.dims, d);
    ASSERT_EQ(r.tensors.size(), w.tensors.size());
    for (const auto& [tname, tensor] : w.tensors) {
      auto it = r.tensors.find(tname);
      ASSERT_NE(it, r.tensors.end()) << tname;
      EXPECT_EQ(it->second.shape, tensor.shape) << tname;
      EXPECT_EQ(it->second.dtype, DType::kF16) << tname;
    }
    fs::remove_all(dir);
  }
}

// The anchors: real weights on this machine give the catalog's dims for their names.
TEST(CatalogArch, RealTinyEnHasTheCatalogsDims) {
  WST_REQUIRE_TINY_EN();
  const WhisperWeights w = formats::read_weights(test::tiny_en_dir().string());
  EXPECT_EQ(w.dims, dims_of(Catalog::instance().model("tiny.en").arch));
}

TEST(CatalogArch, RealBaseHasTheCatalogsDims) {
  WST_REQUIRE_BASE();
  const WhisperWeights w = formats::read_weights(test::base_dir().string());
  EXPECT_EQ(w.dims, dims_of(Catalog::instance().model("base").arch));
}

}  // namespace
}  // namespace wst::models
