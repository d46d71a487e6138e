// The same weights stored as float32 instead of float16 load and transcribe identically (the engine computes
// in float32 either way, and fp16 -> fp32 is exact). The float32 model.bin is written by the test from the
// real tiny.en file. With the default compute type the float16 file's decoder keeps its weights in float16
// (other kernels, another order of summation), so the float32 file is also run with compute type float16,
// which holds exactly the same values in the same kernels: bit for bit the same numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "audio/decode.h"
#include "formats/ct2_model.h"
#include "support/ct2_writer.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/half.h"
#include "util/mapped_file.h"
#include "wst/engine.h"

namespace wst {
namespace {

namespace fs = std::filesystem;

TEST(StoredDtype, Float32ModelTranscribesAsFloat16) {
  WST_REQUIRE_TINY_EN();
  const fs::path src = test::tiny_en_dir();
  test::TempDir tmp;
  const fs::path dst = tmp / "fp32";
  fs::create_directories(dst);
  for (const char* f : {"config.json", "tokenizer.json", "vocabulary.txt"}) fs::create_symlink(src / f, dst / f);
  {
    MappedFile in((src / "model.bin").string());
    formats::Ct2Model m = formats::parse_ct2_model(in.data(), in.size(), in.path());
    test::Ct2Writer w;
    w.u32(m.binary_version).str(m.spec_name).u32(m.spec_revision).u32(static_cast<uint32_t>(m.variables.size()));
    for (const auto& v : m.variables) {
      w.str(v.name).u8(static_cast<uint8_t>(v.shape.size()));
      for (auto d : v.shape) w.u32(d);
      if (v.dtype == formats::Ct2DType::kFloat16) {
        w.u8(0).u32(static_cast<uint32_t>(v.n_elements() * 4));
        for (size_t i = 0; i < v.n_elements(); ++i) {
          uint16_t h;
          std::memcpy(&h, in.data() + v.offset + 2 * i, 2);
          float f = half_to_float(h);
          w.raw(&f, 4);
        }
      } else {
        w.u8(static_cast<uint8_t>(v.dtype)).u32(static_cast<uint32_t>(v.n_bytes)).raw(in.data() + v.offset, v.n_bytes);
      }
    }
    w.u32(static_cast<uint32_t>(m.aliases.size()));
    for (const auto& [alias, target] : m.aliases) w.str(alias).str(target);
    std::ofstream(dst / "model.bin", std::ios::binary) << w.bytes();
  }
  auto pcm = audio::load_audio((test::shared_audio_dir() / "jfk.wav").string());
  auto e16 = Engine::load(src.string(), {});
  auto e32 = Engine::load(dst.string(), {});
  EngineOptions half;
  half.compute_type = "float16";
  auto e32h = Engine::load(dst.string(), half);
  EXPECT_EQ(e16->info().stored_dtype, "float16");
  EXPECT_EQ(e32->info().stored_dtype, "float32");
  EXPECT_EQ(e32h->info().compute_dtype, "float16");
  Transcript a = e16->transcribe(pcm, {}), b = e32->transcribe(pcm, {}), c = e32h->transcribe(pcm, {});
  EXPECT_EQ(a.text, b.text);
  ASSERT_EQ(a.segments.size(), b.segments.size());
  ASSERT_EQ(a.segments.size(), c.segments.size());
  for (size_t i = 0; i < a.segments.size(); ++i) {
    EXPECT_EQ(a.segments[i].tokens, b.segments[i].tokens);
    EXPECT_NEAR(a.segments[i].avg_logprob, b.segments[i].avg_logprob, 1e-5);  // summation order only
    EXPECT_EQ(a.segments[i].tokens, c.segments[i].tokens);
    EXPECT_EQ(a.segments[i].avg_logprob, c.segments[i].avg_logprob);  // same float32 numbers, bit for bit
  }
}

TEST(Half, ConvertsEveryClassExactly) {
  EXPECT_EQ(half_to_float(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);                 // largest half
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));    // smallest subnormal
  EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24)); // largest subnormal
  EXPECT_TRUE(std::isinf(half_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  // The bulk conversion (F16C where the CPU has it) agrees with the scalar one on every half, NaNs aside.
  std::vector<uint8_t> all(2 * 65536 + 1);  // odd offset: unaligned source
  for (uint32_t h = 0; h < 65536; ++h) std::memcpy(&all[1 + 2 * h], &h, 2);
  std::vector<float> bulk(65536);
  half_to_float_n(all.data() + 1, bulk.data(), bulk.size());
  for (uint32_t h = 0; h < 65536; ++h) {
    const float one = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(one)) {
      EXPECT_TRUE(std::isnan(bulk[h])) << h;
    } else {
      ASSERT_EQ(std::memcmp(&one, &bulk[h], 4), 0) << "half 0x" << std::hex << h;
    }
  }
  EXPECT_EQ(bfloat16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bfloat16_to_float(0xc040), -3.0f);
}

}  // namespace
}  // namespace wst
