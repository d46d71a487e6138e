// MLX directories with weights.npz (the older mlx-examples convert.py's output, and what
// tests/reference/ct2_to_mlx_whisper.py writes): read as the same directory with weights.safetensors, and the
// reference converter's npz of the real tiny.en reads to exactly read_ct2's values.
#include <gtest/gtest.h>

#include "formats/npz.h"
#include "formats/safetensors.h"
#include "formats/weight_io.h"
#include "support/paths.h"
#include "support/synthetic_weights.h"
#include "support/temp_dir.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace {

TEST(MlxNpz, ReadsAsTheSameDirectoryWithSafetensors) {
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dt));
    test::TempDir dir;
    const auto out = dir / "mlx";
    write_mlx(test::synthetic_weights(test::tiny_dims(), dt), out.string(), std::nullopt);
    const WhisperWeights from_safetensors = read_weights(out.string());
    {  // The same arrays, names and layout as weights.npz.
      MappedFile f((out / "weights.safetensors").string());
      const SafetensorsFile st = parse_safetensors(f.data(), f.size(), f.path());
      std::vector<std::pair<std::string, TensorRef>> arrays;
      for (const auto& t : st.tensors) arrays.push_back({t.name, TensorRef{t.shape, t.dtype, f.data() + t.offset, t.n_bytes}});
      write_npz((out / "weights.npz").string(), arrays);
    }
    std::filesystem::remove(out / "weights.safetensors");
    const WhisperWeights from_npz = read_weights(out.string());
    EXPECT_EQ(from_npz.dims, from_safetensors.dims);
    EXPECT_EQ(test::first_difference(from_npz, from_safetensors), "");
  }
}

TEST(MlxNpzReal, ReferenceConvertersNpzReadsToTheCt2Values) {
  WST_REQUIRE_TINY_EN();
  test::TempDir dir;
  const auto out = dir / "mlx";
  const std::string log = test::capture(test::python() + " " +
                                        (test::source_dir() / "tests/reference/ct2_to_mlx_whisper.py").string() +
                                        " --model-dir '" + test::tiny_en_dir().string() + "' --out '" + out.string() + "' 2>&1");
  ASSERT_TRUE(std::filesystem::exists(out / "weights.npz")) << log;
  const WhisperWeights ours = read_weights(out.string());
  const WhisperWeights ct2 = read_ct2(test::tiny_en_dir().string());
  ASSERT_EQ(ours.dims, ct2.dims);
  ASSERT_EQ(ours.tensors.size(), ct2.tensors.size());
  // float32 arrays from float16 weights: widening is exact. The positional embedding is computed, not stored
  // (compared in MlxDirReal.ReadsTheReferenceConvertersOutputAsCt2Does).
  for (const auto& [name, t] : ct2.tensors) {
    if (name == "encoder.positional_embedding") continue;
    ASSERT_TRUE(ours.has(name)) << name;
    ASSERT_EQ(ours.tensors.at(name).shape, t.shape) << name;
    const std::vector<float> a = ours.tensors.at(name).to_f32(), b = t.to_f32();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << name << " first difference at element " << i;
  }
}

}  // namespace
}  // namespace wst::formats
