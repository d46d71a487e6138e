// Tests for src/impls/registry.cpp and native.cpp: the registry's ids, unknown ids, native-cuda's reason,
// and native-cpu on the real tiny.en weights through the Implementation interface.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "audio/decode.h"
#include "models/catalog.h"
#include "support/paths.h"
#include "util/errors.h"
#include "wst/engine.h"
#include "wst/implementation.h"

namespace wst {
namespace {

TEST(Registry, ListsNativeCpuFirstAndCuda) {
  auto ids = implementation_ids();
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], "native-cpu");
  EXPECT_NE(std::find(ids.begin(), ids.end(), "native-cuda"), ids.end());
  for (const auto& id : ids) EXPECT_EQ(make_implementation(id)->describe().id, id);
}

// check-models takes each implementation's formats from the catalog; they must be the formats the registry's
// entry really loads (the catalog had whisper-mps on MLX directories while its bridge reads .pt checkpoints).
// The compute-type and pipeline variants (native-cpu-int8, faster-whisper-int8, ...) share their base's row.
TEST(Registry, CatalogFormatsAreTheRegisteredOnes) {
  const models::Catalog& cat = models::Catalog::instance();
  auto to_catalog = [](const std::string& f) {
    return f == "ctranslate2" ? models::Format::kCt2 : f == "safetensors" ? models::Format::kHf : models::parse_format(f);
  };
  int checked = 0;
  for (const auto& id : implementation_ids()) {
    const auto& known = cat.implementations();
    if (std::find(known.begin(), known.end(), id) == known.end()) continue;
    std::vector<models::Format> registered;
    for (const auto& f : make_implementation(id)->describe().formats) registered.push_back(to_catalog(f));
    std::sort(registered.begin(), registered.end());
    std::vector<models::Format> in_catalog = cat.formats_for(id);
    std::sort(in_catalog.begin(), in_catalog.end());
    EXPECT_EQ(in_catalog, registered) << id;
    ++checked;
  }
  EXPECT_GE(checked, 9);
  for (const char* id : {"whisper-mps", "lightning-whisper-mlx"})
    EXPECT_NE(std::find(cat.implementations().begin(), cat.implementations().end(), id), cat.implementations().end()) << id;
}

TEST(Registry, UnknownIdListsTheKnownOnes) {
  try {
    make_implementation("whisper-nope");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("implementation \"whisper-nope\": unknown (known: native-cpu, native-cpu-int8, native-cuda", 0), 0u) << m;
  }
}

TEST(Registry, NativeCudaSaysWhyNot) {
  auto devices = available_devices();
  bool has_cuda = std::find(devices.begin(), devices.end(), "cuda") != devices.end();
  std::string why = make_implementation("native-cuda")->unavailable_reason();
  if (has_cuda) {
    EXPECT_EQ(why, "");
  } else {
    // Without CUDA compiled in: "this build has no cuda backend ..."; with it but no GPU: "no CUDA device: ...".
    EXPECT_EQ(why, device_unavailable_reason("cuda") + " (devices here: cpu)");
#ifdef WST_HAVE_CUDA
    EXPECT_EQ(why.rfind("no CUDA device: ", 0), 0u) << why;
#else
    EXPECT_EQ(why.rfind("this build has no cuda backend", 0), 0u) << why;
#endif
  }
  EXPECT_EQ(make_implementation("native-cpu")->unavailable_reason(), "");
}

TEST(NativeImpl, TranscribesJfkAndReportsWhatItUsed) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_implementation("native-cpu");
  ImplParams p;
  p.model_path = test::tiny_en_dir().string();
  p.model_format = "ctranslate2";
  p.n_threads = 1;
  impl->load(p);
  ImplTranscript t = impl->transcribe(audio::load_audio((test::shared_audio_dir() / "jfk.wav").string()));
  EXPECT_NE(t.text.find("ask not what your country can do for you"), std::string::npos) << t.text;
  EXPECT_EQ(t.language, "en");
  EXPECT_GT(t.internal_ms, 0);  // the engine reports its own time
  ImplUsed u = impl->used();
  EXPECT_EQ(u.model_file, (test::tiny_en_dir() / "model.bin").string());
  EXPECT_EQ(u.format, "ctranslate2");
  EXPECT_EQ(u.device, "cpu");
  EXPECT_EQ(u.n_threads, 1);
  EXPECT_EQ(u.precision.rfind("float32", 0), 0u) << u.precision;
  impl->cleanup();
}

TEST(NativeImpl, BeamSizeReachesTheEngine) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_implementation("native-cpu");
  ImplParams p;
  p.model_path = test::tiny_en_dir().string();
  p.n_threads = 1;
  p.beam_size = 5;
  impl->load(p);
  // Beam 5 writes "And so, my fellow" where greedy writes "And so my fellow" (faster-whisper does the same:
  // tests/reference/faster_whisper_beam_tiny_en.json).
  ImplTranscript t = impl->transcribe(audio::load_audio((test::shared_audio_dir() / "jfk.wav").string()));
  EXPECT_EQ(t.text, " And so, my fellow Americans ask not what your country can do for you ask what you can do for your country.");
  impl->cleanup();
}

TEST(NativeImpl, BeamSizeBelowOneIsRefused) {
  auto impl = make_implementation("native-cpu");
  ImplParams p;
  p.model_path = "/nonexistent";
  p.beam_size = 0;
  try {
    impl->load(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beam size 0 (must be 1 or more)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wst
