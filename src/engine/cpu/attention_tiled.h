// The encoder's attention without the sgemm round trips (attention_tiled.cpp): per head the keys are
// transposed once, then each task (a head and a block of query rows) computes its block's scores in an
// L2-sized buffer with an AVX-512 register-tiled kernel, takes softmax_row of each row (the same function as
// the sgemm path) and multiplies by V with a second register-tiled kernel. No 512 x 1500 score block, no
// packing of K and V per call. Only head width 64 (every Whisper model) and non-causal attention.
#pragma once

#include "engine/backend.h"

namespace wst::engine::cpu {

// Whether attention_tiled can take this call on this CPU (AVX-512F at run time, d_head 64, non-causal).
bool attention_tiled_supported(int d_head, int causal_offset);

// out = softmax(q k^T / sqrt(64)) v per head; q [Tq, D], k and v [Tk, D], out [Tq, D], D = n_head * 64.
void attention_tiled(const Mat& q, const Mat& k, const Mat& v, Mat& out, int n_head, int n_threads);

}  // namespace wst::engine::cpu
