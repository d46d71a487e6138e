// The CUDA backend's valued environment switches (src/engine/cuda/switches.h): what they accept and the one-line
// error that names the variable and the value otherwise. Plain C++, so it runs without a GPU.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/cuda/switches.h"
#include "support/error_of.h"
#include "util/errors.h"

namespace wst::engine::cuda {
namespace {

using test::error_of;

TEST(CudaSwitches, FlashShapeTakesZeroToSix) {
  EXPECT_EQ(parse_flash_shape("0"), FlashShape::words16);
  EXPECT_EQ(parse_flash_shape("1"), FlashShape::ldmatrix16);
  EXPECT_EQ(parse_flash_shape("2"), FlashShape::ldmatrix32);
  EXPECT_EQ(parse_flash_shape("3"), FlashShape::wgmma64x64);
  EXPECT_EQ(parse_flash_shape("4"), FlashShape::wgmma128x64);
  EXPECT_EQ(parse_flash_shape("5"), FlashShape::wgmma128x128);
  EXPECT_EQ(parse_flash_shape("6"), FlashShape::wgmma128x64p);
  EXPECT_TRUE(is_wgmma(FlashShape::wgmma128x64p));
  EXPECT_FALSE(is_wgmma(FlashShape::ldmatrix32));
  EXPECT_TRUE(is_wgmma(FlashShape::wgmma64x64));
  for (const char* bad : {"7", "-1", "01", "1 ", "ldmatrix16", "", "/"})
    EXPECT_EQ(error_of([&] { parse_flash_shape(bad); }),
              std::string("WST_CUDA_FLASH_SHAPE: expected 0 to 6, got \"") + bad + "\"")
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

TEST(CudaSwitches, ExpandingShapeIsOffOrOnePair) {
  const GemvShape off = parse_expanding_shape("off");
  EXPECT_EQ(off.rows_per_warp, 0);
  EXPECT_EQ(off.warps, 0);
  EXPECT_FALSE(takes_expanding_shape(1, 5120, 1280, off, 0));
  const GemvShape s = parse_expanding_shape(" 4,4 ");
  EXPECT_EQ(s.rows_per_warp, 4);
  EXPECT_EQ(s.warps, 4);
  for (const char* bad : {"4,4 2,8", "4;4", "4,", "", "a,b", "OFF", "off 4,4"})
    EXPECT_EQ(error_of([&] { parse_expanding_shape(bad); }),
              std::string("WST_CUDA_GEMV_EXPANDING_SHAPE: expected one \"rows,warps\" pair or off, got \"") + bad +
                  "\"")
        << bad;
  EXPECT_EQ(error_of([] { parse_expanding_shape("4,9"); }),
            "WST_CUDA_GEMV_EXPANDING_SHAPE: gemv shape: 4 rows a warp (1, 2 or 4) and 9 warps a block (1 to 8) do "
            "not fit");
  EXPECT_EQ(error_of([] { parse_expanding_shape("0,0"); }),
            "WST_CUDA_GEMV_EXPANDING_SHAPE: gemv shape: 0 rows a warp (1, 2 or 4) and 0 warps a block (1 to 8) do "
            "not fit");
}

TEST(CudaSwitches, ExpandingShapeReachesFc1AndTheLogitsOfOneWideRow) {
  const GemvShape s{4, 4};
  EXPECT_TRUE(takes_expanding_shape(1, 5120, 1280, s, 1024));    // large-v3's fc1
  EXPECT_TRUE(takes_expanding_shape(1, 51866, 1280, s, 1024));   // its logits
  EXPECT_FALSE(takes_expanding_shape(1, 3840, 1280, s, 1024));   // q|k|v: the fused kernels' bits
  EXPECT_FALSE(takes_expanding_shape(1, 1280, 1280, s, 1024));   // an output product
  EXPECT_FALSE(takes_expanding_shape(1, 1280, 5120, s, 1024));   // fc2
  EXPECT_FALSE(takes_expanding_shape(5, 5120, 1280, s, 1024));   // beams
  EXPECT_TRUE(takes_expanding_shape(1, 4096, 1024, s, 1024));    // at the width exactly (medium's fc1)
  EXPECT_FALSE(takes_expanding_shape(1, 4096, 1024, s, 1025));   // one under it
  EXPECT_TRUE(takes_expanding_shape(1, 4 * 1280, 1280, s, 1280)); // 4x exactly
  EXPECT_FALSE(takes_expanding_shape(1, 4 * 1280 - 1, 1280, s, 1280));
  EXPECT_FALSE(takes_expanding_shape(1, 1536, 384, s, 1024));    // tiny's fc1, under the default width
  EXPECT_TRUE(takes_expanding_shape(1, 1536, 384, s, 0));        // ... and with every width
  EXPECT_FALSE(takes_expanding_shape(1, 5120, 1280, {0, 0}, 0)); // off
}

TEST(CudaSwitches, ExpandingShapeIsOffOrAShapeTheKernelHasFromAWidthOfZeroOrMore) {
  EXPECT_EQ(error_of([] { check_expanding_shape({0, 0}, 1280); }), "(no error)");
  EXPECT_EQ(error_of([] { check_expanding_shape({4, 4}, 0); }), "(no error)");
  EXPECT_EQ(error_of([] { check_expanding_shape({3, 4}, 1280); }),
            "gemv shape: 3 rows a warp (1, 2 or 4) and 4 warps a block (1 to 8) do not fit");
  EXPECT_EQ(error_of([] { check_expanding_shape({4, 0}, 1280); }),
            "gemv shape: 4 rows a warp (1, 2 or 4) and 0 warps a block (1 to 8) do not fit");
  EXPECT_EQ(error_of([] { check_expanding_shape({4, 4}, -1); }), "gemv expanding shape: a negative input width (-1)");
}

TEST(CudaSwitches, GemvShapeCheckAcceptsEveryInstantiatedShape) {
  for (int r : {1, 2, 4})
    for (int w = 1; w <= 8; ++w) EXPECT_EQ(error_of([&] { check_gemv_shape({r, w}); }), "(no error)") << r << " x " << w;
}

// The valued switches that take a number: what each accepts, and the one-line error naming the variable, what it
// expects and the text otherwise.
struct NumberSwitch {
  int (*parse)(const std::string&);
  const char* expected;  // the error's text before the quoted value
  std::vector<std::pair<std::string, int>> good;
  std::vector<std::string> bad;
};

TEST(CudaSwitches, NumbersTakeTheirRangeAndNameTheVariableOtherwise) {
  const std::vector<NumberSwitch> switches = {
      {parse_shared_kv_min_heads, "WST_CUDA_SHARED_KV_MIN_HEADS: expected a head count from 1 to 1024",
       {{"1", 1}, {"16", 16}, {"1024", 1024}}, {"0", "-3", "1025", "16 heads", "x", ""}},
      {parse_fused_cross_max_width, "WST_CUDA_FUSED_CROSS_MAX_WIDTH: expected a model width from 0 to 65536",
       {{"0", 0}, {"1024", 1024}, {"65536", 65536}}, {"-1", "65537", "1280 wide", "wide", ""}},
      {parse_expanding_min_input, "WST_CUDA_GEMV_EXPANDING_MIN: expected an input width from 0 to 65536",
       {{"0", 0}, {"1280", 1280}, {"65536", 65536}}, {"-1", "65537", "1280 wide", ""}},
      {parse_tensor_rows_min, "WST_CUDA_TENSOR_ROWS_MIN: expected a row count from 1 to 16",
       {{"1", 1}, {"16", 16}}, {"0", "17", "2 rows", ""}},
      {parse_tensor_rows_tiles, "WST_CUDA_TENSOR_ROWS_TILES: expected 1, 2 or 4 tiles",
       {{"1", 1}, {"2", 2}, {"4", 4}}, {"3", "0", "5", "02", "two", ""}},
      {parse_tensor_rows_narrow_tiles, "WST_CUDA_TENSOR_ROWS_NARROW_TILES: expected 1, 2 or 4 tiles",
       {{"1", 1}, {"2", 2}, {"4", 4}}, {"3", "0", "8", "1 tile", ""}},
      {parse_tensor_rows_occupancy, "WST_CUDA_TENSOR_ROWS_OCCUPANCY: expected a block count from 1 to 2",
       {{"1", 1}, {"2", 2}}, {"0", "3", "2 blocks", ""}},
  };
  for (const NumberSwitch& sw : switches) {
    for (const auto& [text, value] : sw.good) EXPECT_EQ(sw.parse(text), value) << sw.expected << ": " << text;
    for (const std::string& bad : sw.bad)
      EXPECT_EQ(error_of([&] { sw.parse(bad); }), std::string(sw.expected) + ", got \"" + bad + "\"") << bad;
  }
}

// set_tensor_rows_occupancy takes the two block counts the kernel is built for and names any other.
TEST(CudaSwitches, TensorRowsOccupancyIsOneOrTwo) {
  EXPECT_NO_THROW(check_tensor_rows_occupancy(1));
  EXPECT_NO_THROW(check_tensor_rows_occupancy(2));
  for (int bad : {0, 3, -1})
    EXPECT_EQ(error_of([&] { check_tensor_rows_occupancy(bad); }),
              "tensor rows: 1 or 2 blocks an SM, not " + std::to_string(bad));
}

}  // namespace
// The tensor-core row kernel's tiles: run 37-38's rule by the model's width (large-v3 1280, small 768, tiny 384;
// the logits 4), with runs 44-47's 2 for products of fewer than 2048 outputs and 4 above from 768 wide at one block
// an SM, and run 50's 1 for those from 1280 wide at two (the default); a count given overrides it, and narrow_tiles
// changes only the products of fewer than 2048 outputs.
TEST(CudaSwitches, TensorRowTilesFollowTheWidthAndTheNarrowOverride) {
  // At 2 blocks an SM, the default.
  EXPECT_EQ(tensor_rows_tiles(3 * 1280, 1280, 0), 4);  // large-v3 q|k|v
  EXPECT_EQ(tensor_rows_tiles(4 * 1280, 1280, 0), 4);  // large-v3 fc1
  EXPECT_EQ(tensor_rows_tiles(1280, 5120, 0), 1);      // large-v3 fc2
  EXPECT_EQ(tensor_rows_tiles(1280, 1280, 0), 1);      // large-v3's output products and cross query
  EXPECT_EQ(tensor_rows_tiles(768, 768, 0), 2);        // small's output products
  EXPECT_EQ(tensor_rows_tiles(4 * 768, 768, 0), 4);    // small fc1
  EXPECT_EQ(tensor_rows_tiles(3 * 768, 768, 0), 4);    // small q|k|v
  EXPECT_EQ(tensor_rows_tiles(768, 4 * 768, 0), 2);    // small fc2
  EXPECT_EQ(tensor_rows_tiles(384, 4 * 384, 0), 1);    // tiny fc2
  EXPECT_EQ(tensor_rows_tiles(51865, 384, 0), 4);      // tiny's logits
  EXPECT_EQ(tensor_rows_tiles(51865, 1280, 0), 4);     // large-v3's logits
  EXPECT_EQ(tensor_rows_tiles(51865, 1280, 1), 1);     // a count given
  EXPECT_EQ(tensor_rows_tiles(1280, 5120, 0, 4), 4);   // large-v3 fc2, narrow at 4 (run 43's rule)
  EXPECT_EQ(tensor_rows_tiles(1280, 1280, 0, 2), 2);   // large-v3's output products, narrow at 2
  EXPECT_EQ(tensor_rows_tiles(3 * 1280, 1280, 0, 1), 4);  // 3840 outputs: not narrow
  EXPECT_EQ(tensor_rows_tiles(51865, 1280, 0, 1), 4);  // the logits keep 4
  EXPECT_EQ(tensor_rows_tiles(1280, 5120, 0, 3), 1);   // an invalid narrow count: the rule
  EXPECT_EQ(tensor_rows_tiles(1280, 5120, 2, 1), 2);   // a count given wins over narrow
  // At 1 block an SM (WST_CUDA_TENSOR_ROWS_OCCUPANCY=1): 2 tiles for the narrow products from 768 wide.
  EXPECT_EQ(tensor_rows_tiles(1280, 5120, 0, 0, 1), 2);      // large-v3 fc2
  EXPECT_EQ(tensor_rows_tiles(1280, 1280, 0, 0, 1), 2);      // large-v3's output products and cross query
  EXPECT_EQ(tensor_rows_tiles(4 * 1280, 1280, 0, 0, 1), 4);  // large-v3 fc1
  EXPECT_EQ(tensor_rows_tiles(768, 4 * 768, 0, 0, 1), 2);    // small fc2
  EXPECT_EQ(tensor_rows_tiles(384, 4 * 384, 0, 0, 1), 1);    // tiny fc2
  EXPECT_EQ(tensor_rows_tiles(1280, 5120, 0, 3, 1), 2);      // an invalid narrow count: the rule
}

}  // namespace wst::engine::cuda
