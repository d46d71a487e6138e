// The CUDA backend's launch shapes and the parsing of its valued environment switches, in plain C++ (no CUDA
// headers), so that their one-line errors are tested where there is no GPU (tests/engine/cuda_switches_test.cpp);
// CudaBackend reads the variables when it starts (cuda_backend.cu).
#pragma once
#include <array>
#include <cstdlib>
#include <sstream>
#include <string>

#include "util/errors.h"

namespace wst::engine::cuda {

// Launch shapes of the encoder's flash attention (flash_attention_half); these three give the same bits:
//   words16: 16 queries a warp, K's fragments by 32-bit shared loads (the default through run 33);
//   ldmatrix16: 16 queries a warp, K's fragments by ldmatrix, the exponentials as the bare ex2 instruction (the
//     default from run 34 to 38, and where wgmma does not run: large-v3's recorded encoder blocks 5.80 against
//     5.89 ms, run 34, H200);
//   ldmatrix32: as ldmatrix16 with 32 queries a warp (each K and V fragment serves two tiles of 16; 5.88 ms).
// On Hopper (sm_90a code, flash_wgmma.cu), with their own bits (held to the same tolerance):
//   wgmma64x64: a warpgroup's products (wgmma) for 64 queries a block, 64 keys a step;
//   wgmma128x64: two warpgroups (128 queries a block), 64 keys a step;
//   wgmma128x128: two warpgroups, 128 keys a step;
//   wgmma128x64p: as wgmma128x64, pipelined: three stages of keys, one barrier a step, and the next block's scores
//     issued with this block's values (the tensor cores run both back to back while the softmax waits once).
// The backend picks one for the model (CudaBackend::flash_shape_for: wgmma where it runs, since run 39);
// WST_CUDA_FLASH_SHAPE=0 to 6 or set_flash_shape sets one.
enum class FlashShape {
  words16 = 0,
  ldmatrix16 = 1,
  ldmatrix32 = 2,
  wgmma64x64 = 3,
  wgmma128x64 = 4,
  wgmma128x128 = 5,
  wgmma128x64p = 6
};
constexpr int kFlashShapes = 7;
constexpr bool is_wgmma(FlashShape s) { return static_cast<int>(s) >= static_cast<int>(FlashShape::wgmma64x64); }

// A launch shape of the half-weight matrix-vector kernel (half_linear.cu): output rows a warp (1, 2 or 4), warps a
// block (1 to 8).
struct GemvShape {
  int rows_per_warp = 1;
  int warps = 8;
};

// Throws unless the kernel has an instantiation for `shape`.
inline void check_gemv_shape(const GemvShape& shape) {
  const int r = shape.rows_per_warp;
  if ((r != 1 && r != 2 && r != 4) || shape.warps < 1 || shape.warps > 8)
    throw Error("gemv shape: " + std::to_string(r) + " rows a warp (1, 2 or 4) and " + std::to_string(shape.warps) +
                " warps a block (1 to 8) do not fit");
}

// WST_CUDA_FLASH_SHAPE: one digit, "0" to "6".
inline FlashShape parse_flash_shape(const std::string& text) {
  if (text.size() != 1 || text[0] < '0' || text[0] >= '0' + kFlashShapes)
    throw Error("WST_CUDA_FLASH_SHAPE: expected 0 to " + std::to_string(kFlashShapes - 1) + ", got \"" + text + "\"");
  return static_cast<FlashShape>(text[0] - '0');
}

// Whether m rows of an n x k product take the one-row expanding shape (CudaBackend::set_gemv_expanding_shape): one
// row into an output at least 4x its input (fc1, the logits; not the q|k|v product's 3x; an unnormed product of that
// kind too, whose values no shape changes) from an input at least min_input wide, while the shape is set
// (rows_per_warp > 0; the setter and parse_gemv_shape check the warps).
inline bool takes_expanding_shape(int m, int n, int k, const GemvShape& shape, int min_input) {
  return m == 1 && shape.rows_per_warp > 0 && k >= min_input && n >= 4 * k;
}

// N "rows,warps" pairs separated by blanks for the switch `var`, each a shape the kernel has; otherwise a one-line
// error naming var and either what was expected (`expected`) or the shape that does not fit.
template <size_t N>
std::array<GemvShape, N> parse_gemv_pairs(const std::string& text, const char* var, const char* expected) {
  std::istringstream in(text);
  const Error wrong(std::string(var) + ": expected " + expected + ", got \"" + text + "\"");
  std::array<GemvShape, N> shapes;
  for (GemvShape& s : shapes) {
    char comma = 0;
    if (!(in >> s.rows_per_warp >> comma >> s.warps) || comma != ',') throw wrong;
    try {
      check_gemv_shape(s);
    } catch (const Error& e) {
      throw Error(std::string(var) + ": " + e.what());
    }
  }
  std::string rest;
  if (in >> rest) throw wrong;
  return shapes;
}

// Throws unless (shape, min_input) can be CudaBackend::set_gemv_expanding_shape's: {0, 0} (off) or a shape the kernel
// has, from an input width of 0 or more.
inline void check_expanding_shape(const GemvShape& shape, int min_input) {
  if (shape.rows_per_warp != 0 || shape.warps != 0) check_gemv_shape(shape);
  if (min_input < 0) throw Error("gemv expanding shape: a negative input width (" + std::to_string(min_input) + ")");
}

// WST_CUDA_GEMV_EXPANDING_SHAPE: "off" ({0, 0}, every product in its usual shape) or one "rows,warps" pair.
inline GemvShape parse_expanding_shape(const std::string& text) {
  if (text == "off") return {0, 0};
  return parse_gemv_pairs<1>(text, "WST_CUDA_GEMV_EXPANDING_SHAPE", "one \"rows,warps\" pair or off")[0];
}

// WST_CUDA_GEMV_SHAPES: four "rows,warps" pairs separated by blanks, for one row narrow, one row wide, several rows
// narrow, several rows wide (the input up to 2048 wide, or wider: fc2).
inline std::array<GemvShape, 4> parse_gemv_shapes(const std::string& text) {
  return parse_gemv_pairs<4>(text, "WST_CUDA_GEMV_SHAPES", "four \"rows,warps\" pairs");
}

// A whole number from lo to hi for the switch `name`, or a one-line error naming the switch, `what` and the text.
inline int parse_bounded_count(const char* name, const char* what, const std::string& text, long lo, long hi) {
  char* end = nullptr;
  const long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < lo || n > hi)
    throw Error(std::string(name) + ": expected " + what + " from " + std::to_string(lo) + " to " +
                std::to_string(hi) + ", got \"" + text + "\"");
  return static_cast<int>(n);
}

// WST_CUDA_SHARED_KV_MIN_HEADS: a head count from 1 to 1024.
inline int parse_shared_kv_min_heads(const std::string& text) {
  return parse_bounded_count("WST_CUDA_SHARED_KV_MIN_HEADS", "a head count", text, 1, 1024);
}

// WST_CUDA_FUSED_CROSS_MAX_WIDTH: the widest model (d) whose greedy step fuses the cross-attention's query product.
inline int parse_fused_cross_max_width(const std::string& text) {
  return parse_bounded_count("WST_CUDA_FUSED_CROSS_MAX_WIDTH", "a model width", text, 0, 65536);
}

// WST_CUDA_GEMV_EXPANDING_MIN: the narrowest input that takes the one-row expanding shape (takes_expanding_shape).
inline int parse_expanding_min_input(const std::string& text) {
  return parse_bounded_count("WST_CUDA_GEMV_EXPANDING_MIN", "an input width", text, 0, 65536);
}

// A tile count for the tensor-core row kernel (1, 2 or 4) read from variable `name`.
inline int parse_tile_count(const char* name, const std::string& text) {
  if (text == "1" || text == "2" || text == "4") return text[0] - '0';
  throw Error(std::string(name) + ": expected 1, 2 or 4 tiles, got \"" + text + "\"");
}

// WST_CUDA_TENSOR_ROWS_TILES: the tensor-core row kernel's output features a block, in tiles of 8 (1, 2 or 4).
inline int parse_tensor_rows_tiles(const std::string& text) {
  return parse_tile_count("WST_CUDA_TENSOR_ROWS_TILES", text);
}

// The output features a block of the tensor-core row kernel (tensor_rows.cu) takes, in tiles of 8: `tiles` when 1, 2
// or 4; otherwise `narrow_tiles` (when 1, 2 or 4) for products of fewer than 2048 outputs, and the width's rule for
// the rest. Each block reads all of x once (m k floats against 16 tiles k bytes of weights: with 5 rows and one tile,
// more bytes of x than of weights), so wider models take more tiles a block, while the narrow ones keep enough
// blocks. By the model's width (min(n, k) for every product but the logits, which take 4): the fastest uniform count
// of run 37 (5-beam steps, H100) was 4 for large-v3 (3.43 ms; 1 tile 3.86), 2 for small (1.00; 1 tile 1.17, 4 tiles
// 1.03), and tiny's best was 1 with the logits at 4 (0.327; 2 tiles 0.351, 4 tiles 0.352); run 38 confirmed it
// (large-v3 3.43, large-v3-turbo 0.599 against 0.604-0.667 uniform, small 1.00, tiny 0.320 against 0.339-0.353).
// At 4 tiles large-v3's 1280-output products (the output products, the cross query, fc2) had 40 blocks for 132 SMs:
// from 1280 wide, the products of fewer than 2048 outputs take 2 (run 44, 5-beam step: large-v3 2.738 ms against
// 2.819 with 4, 2.760 with 1; large-v3-turbo 0.522 against 0.528, within the runs' spread). Runs 44-46 had small
// faster at 4 tiles throughout than at its 2 (0.825-0.846 against 0.870-0.890 ms) but slower with only its narrow
// products at 4 (0.907-0.914): from 768 wide, 4 tiles from 2048 outputs and 2 below (run 47: 0.801 against 0.879).
// Medium (1024 wide) follows the rule untimed: its q|k|v and fc1 products went from 2 tiles to 4 with it.
// At 2 blocks an SM (`occupancy`, the default since run 50) the products of fewer than 2048 outputs from 1280 wide take
// 1 tile: large-v3's 1280-output products get 160 blocks, all resident on 132 SMs (run 50, 5-beam step: large-v3 2.373
// against 2.425 ms with 2, large-v3-turbo 0.431 against 0.437); small keeps 2 there (1 tile: 0.738 against 0.726).
inline int tensor_rows_tiles(int n, int k, int tiles, int narrow_tiles = 0, int occupancy = 2) {
  const auto valid = [](int t) { return t == 1 || t == 2 || t == 4; };
  if (valid(tiles)) return tiles;
  if (n >= 8192) return 4;
  if (valid(narrow_tiles) && n < 2048) return narrow_tiles;
  const int width = n < k ? n : k;
  if (width < 768) return 1;
  if (n >= 2048) return 4;
  return occupancy == 2 && width >= 1280 ? 1 : 2;
}

// WST_CUDA_TENSOR_ROWS_NARROW_TILES: tensor_rows_tiles' narrow_tiles (1, 2 or 4).
inline int parse_tensor_rows_narrow_tiles(const std::string& text) {
  return parse_tile_count("WST_CUDA_TENSOR_ROWS_NARROW_TILES", text);
}

// WST_CUDA_TENSOR_ROWS_OCCUPANCY: the tensor-core row kernel's blocks an SM (1 or 2).
// CudaBackend::set_tensor_rows_occupancy's blocks an SM: the kernel is built for 1 and 2 only.
inline void check_tensor_rows_occupancy(int blocks) {
  if (blocks != 1 && blocks != 2) throw Error("tensor rows: 1 or 2 blocks an SM, not " + std::to_string(blocks));
}

inline int parse_tensor_rows_occupancy(const std::string& text) {
  return parse_bounded_count("WST_CUDA_TENSOR_ROWS_OCCUPANCY", "a block count", text, 1, 2);
}

// WST_CUDA_TENSOR_ROWS_MIN: the fewest rows a product needs to take the tensor-core row kernel (1 to 16).
inline int parse_tensor_rows_min(const std::string& text) {
  return parse_bounded_count("WST_CUDA_TENSOR_ROWS_MIN", "a row count", text, 1, 16);
}

}  // namespace wst::engine::cuda
