// A few rows (up to 16) times float16 weights on the tensor cores (tensor_rows.cu): the decoder's beam and batched
// steps' products, as an alternative to half_linear.cu's matrix-vector kernel (CudaBackend::set_tensor_rows).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "engine/cuda/cuda_backend.cuh"

namespace wst::engine::cuda {

// Whether x (the rows) and w [n, k] suit the kernel: 1 to 16 rows, k a multiple of 32, 16-byte aligned rows, n > 0.
// (The caller checks a layer norm's gamma and beta are 16-byte aligned.)
bool tensor_rows_fit(const Mat& x, int k, int n);
// y [m, n] = epilogue(bias + norm(x) w^T): w [n, k] float16; gamma/beta (or null: no norm) x's layer norm;
// epi 0 writes, 1 writes the GELU, 2 adds onto y (half_linear.cu's kEpiNone, kEpiGelu, kEpiAdd). Chained (launch.cuh).
// tiles, narrow_tiles: as tensor_rows_tiles (switches.h) takes them; occupancy: blocks an SM (1, or 2 with fewer
// weights held in registers before the wait).
void tensor_rows(bool chained, int tiles, int narrow_tiles, int occupancy, const Mat& x, const float* gamma,
                 const float* beta, const __half* w, const float* bias, int epi, Mat& y, int n, int k,
                 cudaStream_t stream);

}  // namespace wst::engine::cuda
