// Register-tiled encoder attention (attention_tiled.h). Within a task the two products accumulate over their
// inner index in order with FMA, as a GEMM micro-kernel does, and the softmax is the sgemm path's softmax_row,
// so the result agrees with the sgemm path to float rounding.
#include "engine/cpu/attention_tiled.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>

#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/vec_math.h"

namespace wst::engine::cpu {
namespace {

constexpr int kDh = 64;
constexpr int kQRows = 24;  // query rows per task: 24 x 1504 scores = 141 KiB, in L2 with a head's K^T and V

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buf = std::unique_ptr<float, AlignedFree>;
Buf aligned_floats(size_t n) {
  float* p = static_cast<float*>(std::aligned_alloc(64, ((std::max<size_t>(n, 1) * 4 + 63) / 64) * 64));
  if (!p) throw std::bad_alloc();
  return Buf(p);
}

bool cpu_has_avx512f() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}

// s[r][c0 .. c0 + 16 NC) = scale * sum_d qb[r][d] kt[d][c0 ..], for 8 rows of qb (row stride kDh).
template <int NC>
__attribute__((target("avx512f"))) inline void scores_8xN(const float* qb, const float* kt, int ldk, int c0, float scale,
                                                          float* s, int lds) {
  __m512 acc[8][NC];
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
  const float* kp = kt + c0;
  for (int d = 0; d < kDh; ++d, kp += ldk) {
    __m512 kv[NC];
    for (int c = 0; c < NC; ++c) kv[c] = _mm512_load_ps(kp + 16 * c);
    for (int r = 0; r < 8; ++r) {
      const __m512 qv = _mm512_set1_ps(qb[r * kDh + d]);
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(qv, kv[c], acc[r][c]);
    }
  }
  const __m512 sc = _mm512_set1_ps(scale);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < NC; ++c) _mm512_store_ps(s + static_cast<size_t>(r) * lds + c0 + 16 * c, _mm512_mul_ps(acc[r][c], sc));
}

// o[r][0 .. 64) = sum_{j < n} p[r][j] v[j][0 .. 64) for 6 rows of p (row stride ldp); v row stride ldv.
__attribute__((target("avx512f"))) inline void pv_6x64(const float* p, int ldp, const float* v, int ldv, int n, float* o,
                                                       int ldo, int rows) {
  __m512 acc[6][4];
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  const float* vp = v;
  for (int j = 0; j < n; ++j, vp += ldv) {
    const __m512 v0 = _mm512_loadu_ps(vp), v1 = _mm512_loadu_ps(vp + 16), v2 = _mm512_loadu_ps(vp + 32),
                 v3 = _mm512_loadu_ps(vp + 48);
    for (int r = 0; r < 6; ++r) {
      const __m512 pv = _mm512_set1_ps(p[static_cast<size_t>(r) * ldp + j]);
      acc[r][0] = _mm512_fmadd_ps(pv, v0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(pv, v1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(pv, v2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(pv, v3, acc[r][3]);
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(o + static_cast<size_t>(r) * ldo + 16 * c, acc[r][c]);
}

// One task: query rows [r0, r0 + nr) of head h (nr <= kQRows).
__attribute__((target("avx512f"))) void attention_block(const Mat& q, const float* kt, int ldk, const Mat& v, Mat& out,
                                                        int h, int r0, int nr, int tk, float scale, float* qb,
                                                        float* s) {
  // The block's queries, contiguous, zero rows past the end (their scores are computed and ignored).
  for (int r = 0; r < kQRows; ++r) {
    if (r < nr)
      std::copy_n(q.data + static_cast<size_t>(r0 + r) * q.ld + h * kDh, kDh, qb + r * kDh);
    else
      std::fill_n(qb + r * kDh, kDh, 0.0f);
  }
  int c0 = 0;
  for (; c0 + 48 <= ldk; c0 += 48)
    for (int rb = 0; rb < kQRows; rb += 8) scores_8xN<3>(qb + rb * kDh, kt, ldk, c0, scale, s + rb * ldk, ldk);
  for (; c0 < ldk; c0 += 16)
    for (int rb = 0; rb < kQRows; rb += 8) scores_8xN<1>(qb + rb * kDh, kt, ldk, c0, scale, s + rb * ldk, ldk);
  for (int r = 0; r < nr; ++r) softmax_row(s + static_cast<size_t>(r) * ldk, tk);
  const float* vh = v.data + h * kDh;
  for (int rb = 0; rb < nr; rb += 6)
    pv_6x64(s + static_cast<size_t>(rb) * ldk, ldk, vh, v.ld, tk, out.data + static_cast<size_t>(r0 + rb) * out.ld + h * kDh,
            out.ld, std::min(6, nr - rb));
}

}  // namespace

bool attention_tiled_supported(int d_head, int causal_offset) {
  return d_head == kDh && causal_offset < 0 && cpu_has_avx512f();
}

void attention_tiled(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int n_threads) {
  const int tq = q.rows, tk = k.rows;
  const int ldk = (tk + 15) / 16 * 16;  // K^T row length, padded with zero keys to whole vectors
  const float scale = 1.0f / std::sqrt(static_cast<float>(kDh));
  // K^T per head: kt[h][d][j] = k[j][h * 64 + d].
  Buf kt = aligned_floats(static_cast<size_t>(n_head) * kDh * ldk);
  parallel_for(n_head, n_threads, [&](int h0, int h1) {
    for (int h = h0; h < h1; ++h) {
      float* kth = kt.get() + static_cast<size_t>(h) * kDh * ldk;
      for (int j = 0; j < tk; ++j) {
        const float* kj = k.data + static_cast<size_t>(j) * k.ld + h * kDh;
        for (int d = 0; d < kDh; ++d) kth[static_cast<size_t>(d) * ldk + j] = kj[d];
      }
      for (int d = 0; d < kDh; ++d) std::fill(kth + static_cast<size_t>(d) * ldk + tk, kth + static_cast<size_t>(d + 1) * ldk, 0.0f);
    }
  });
  const int n_blocks = (tq + kQRows - 1) / kQRows;
  parallel_for(n_head * n_blocks, n_threads, [&](int t0, int t1) {
    Buf qb = aligned_floats(static_cast<size_t>(kQRows) * kDh);
    Buf s = aligned_floats(static_cast<size_t>(kQRows) * ldk);
    for (int t = t0; t < t1; ++t) {
      const int h = t / n_blocks, r0 = (t % n_blocks) * kQRows;
      attention_block(q, kt.get() + static_cast<size_t>(h) * kDh * ldk, ldk, v, out, h, r0, std::min(kQRows, tq - r0), tk,
                      scale, qb.get(), s.get());
    }
  });
}

}  // namespace wst::engine::cpu
