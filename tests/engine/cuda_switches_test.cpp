// The CUDA backend's valued environment switches (src/engine/cuda/switches.h): what they accept and the one-line
// error that names the variable and the value otherwise. Plain C++, so it runs without a GPU.
#include <gtest/gtest.h>

#include <string>

#include "engine/cuda/switches.h"
#include "support/error_of.h"
#include "util/errors.h"

namespace wst::engine::cuda {
namespace {

using test::error_of;

TEST(CudaSwitches, FlashShapeTakesZeroOneOrTwo) {
  EXPECT_EQ(parse_flash_shape("0"), FlashShape::words16);
  EXPECT_EQ(parse_flash_shape("1"), FlashShape::ldmatrix16);
  EXPECT_EQ(parse_flash_shape("2"), FlashShape::ldmatrix32);
  for (const char* bad : {"3", "-1", "01", "1 ", "ldmatrix16", ""})
    EXPECT_EQ(error_of([&] { parse_flash_shape(bad); }),
              std::string("WST_CUDA_FLASH_SHAPE: expected 0, 1 or 2, got \"") + bad + "\"")
        << bad;
}

TEST(CudaSwitches, GemvShapesTakeFourPairsInOrder) {
  const auto s = parse_gemv_shapes("2,4 1,4  4,8\t1,8");
  EXPECT_EQ(s[0].rows_per_warp, 2);
  EXPECT_EQ(s[0].warps, 4);
  EXPECT_EQ(s[1].rows_per_warp, 1);
  EXPECT_EQ(s[1].warps, 4);
  EXPECT_EQ(s[2].rows_per_warp, 4);
  EXPECT_EQ(s[2].warps, 8);
  EXPECT_EQ(s[3].rows_per_warp, 1);
  EXPECT_EQ(s[3].warps, 8);
}

TEST(CudaSwitches, GemvShapesNameTheVariableAndTheValue) {
  for (const char* bad : {"2,4 1,4 4,8", "2,4 1,4 4,8 1,8 1,8", "2;4 1,4 4,8 1,8", "a,b 1,4 4,8 1,8", ""})
    EXPECT_EQ(error_of([&] { parse_gemv_shapes(bad); }),
              std::string("WST_CUDA_GEMV_SHAPES: expected four \"rows,warps\" pairs, got \"") + bad + "\"")
        << bad;
  // A pair the kernel has no instantiation for: the variable, then what does not fit.
  EXPECT_EQ(error_of([] { parse_gemv_shapes("3,4 1,4 4,8 1,8"); }),
            "WST_CUDA_GEMV_SHAPES: gemv shape: 3 rows a warp (1, 2 or 4) and 4 warps a block (1 to 8) do not fit");
  EXPECT_EQ(error_of([] { parse_gemv_shapes("2,4 1,9 4,8 1,8"); }),
            "WST_CUDA_GEMV_SHAPES: gemv shape: 1 rows a warp (1, 2 or 4) and 9 warps a block (1 to 8) do not fit");
  EXPECT_EQ(error_of([] { parse_gemv_shapes("2,4 1,4 4,0 1,8"); }),
            "WST_CUDA_GEMV_SHAPES: gemv shape: 4 rows a warp (1, 2 or 4) and 0 warps a block (1 to 8) do not fit");
}

TEST(CudaSwitches, GemvShapeCheckAcceptsEveryInstantiatedShape) {
  for (int r : {1, 2, 4})
    for (int w = 1; w <= 8; ++w) EXPECT_EQ(error_of([&] { check_gemv_shape({r, w}); }), "(no error)") << r << " x " << w;
}

TEST(CudaSwitches, SharedKvMinHeadsTakesAHeadCount) {
  EXPECT_EQ(parse_shared_kv_min_heads("1"), 1);
  EXPECT_EQ(parse_shared_kv_min_heads("16"), 16);
  EXPECT_EQ(parse_shared_kv_min_heads("1024"), 1024);
  for (const char* bad : {"0", "-3", "1025", "16 heads", "x", ""})
    EXPECT_EQ(error_of([&] { parse_shared_kv_min_heads(bad); }),
              std::string("WST_CUDA_SHARED_KV_MIN_HEADS: expected a head count from 1 to 1024, got \"") + bad + "\"")
        << bad;
}

TEST(CudaSwitches, FusedCrossMaxWidthTakesAWidth) {
  EXPECT_EQ(parse_fused_cross_max_width("0"), 0);
  EXPECT_EQ(parse_fused_cross_max_width("1024"), 1024);
  EXPECT_EQ(parse_fused_cross_max_width("65536"), 65536);
  for (const char* bad : {"-1", "65537", "1280 wide", "wide", ""})
    EXPECT_EQ(error_of([&] { parse_fused_cross_max_width(bad); }),
              std::string("WST_CUDA_FUSED_CROSS_MAX_WIDTH: expected a model width from 0 to 65536, got \"") + bad +
                  "\"")
        << bad;
}

TEST(CudaSwitches, TensorRowsTilesTakesOneTwoOrFour) {
  EXPECT_EQ(parse_tensor_rows_tiles("1"), 1);
  EXPECT_EQ(parse_tensor_rows_tiles("2"), 2);
  EXPECT_EQ(parse_tensor_rows_tiles("4"), 4);
  for (const char* bad : {"3", "0", "5", "02", "two", ""})
    EXPECT_EQ(error_of([&] { parse_tensor_rows_tiles(bad); }),
              std::string("WST_CUDA_TENSOR_ROWS_TILES: expected 1, 2 or 4 tiles, got \"") + bad + "\"")
        << bad;
}

TEST(CudaSwitches, TensorRowsMinTakesARowCount) {
  EXPECT_EQ(parse_tensor_rows_min("1"), 1);
  EXPECT_EQ(parse_tensor_rows_min("16"), 16);
  for (const char* bad : {"0", "17", "2 rows", ""})
    EXPECT_EQ(error_of([&] { parse_tensor_rows_min(bad); }),
              std::string("WST_CUDA_TENSOR_ROWS_MIN: expected a row count from 1 to 16, got \"") + bad + "\"")
        << bad;
}

TEST(CudaSwitches, NormOnceMinOutputsTakesACount) {
  EXPECT_EQ(parse_norm_once_min_outputs("0"), 0);
  EXPECT_EQ(parse_norm_once_min_outputs("8192"), 8192);
  for (const char* bad : {"-1", "1073741825", "8k", ""})
    EXPECT_EQ(error_of([&] { parse_norm_once_min_outputs(bad); }),
              std::string("WST_CUDA_NORM_ONCE_MIN_OUTPUTS: expected an output count from 0 to 1073741824, got \"") +
                  bad + "\"")
        << bad;
}

TEST(CudaSwitches, TensorRowsClusterTakesOneTwoOrFour) {
  EXPECT_EQ(parse_tensor_rows_cluster("1"), 1);
  EXPECT_EQ(parse_tensor_rows_cluster("2"), 2);
  EXPECT_EQ(parse_tensor_rows_cluster("4"), 4);
  for (const char* bad : {"3", "8", "0", "two", ""})
    EXPECT_EQ(error_of([&] { parse_tensor_rows_cluster(bad); }),
              std::string("WST_CUDA_TENSOR_ROWS_CLUSTER: expected 1, 2 or 4 blocks, got \"") + bad + "\"")
        << bad;
}

}  // namespace
}  // namespace wst::engine::cuda
