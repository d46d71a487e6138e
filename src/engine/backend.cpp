// The Backend interface's defaults for weights other than float32: a backend that keeps only float32 says so.
#include "engine/backend.h"

#include <vector>

#include "util/half.h"

#include "util/errors.h"

namespace wst::engine {

const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::float32: return "float32";
    case WeightType::float16: return "float16";
    case WeightType::int8: return "int8";
    case WeightType::bfloat16: return "bfloat16";
  }
  return "?";
}

namespace {
void require_float32(const Backend& be, const Weights& w) {
  if (w.type != WeightType::float32)
    throw Error(be.name() + " backend: " + weight_type_name(w.type) + " weights are not supported (float32 only)");
}
}  // namespace

void Backend::linear(const Mat& x, const Weights& w, const Mat* bias, Mat& y) {
  require_float32(*this, w);
  linear(x, w.f32, bias, y);
}

Weights Backend::upload_weights_f16(const uint16_t* host, int rows, int cols, WeightType type) {
  std::vector<float> f(static_cast<size_t>(rows) * cols);
  half_to_float_n(reinterpret_cast<const uint8_t*>(host), f.data(), f.size());
  return upload_weights(f.data(), rows, cols, type);
}

Weights Backend::upload_weights(const float* host, int rows, int cols, WeightType type) {
  Weights w;
  w.type = type;
  require_float32(*this, w);
  return Weights(upload(host, rows, cols));
}

void Backend::linear_fused(const Mat& x, const Mat* gamma, const Mat* beta, const Weights& w, const Mat* bias,
                           Epilogue epilogue, Mat& y) {
  Mat normed;
  if (gamma) {
    normed = alloc(x.rows, x.cols);
    layer_norm(x, *gamma, *beta, normed);
  }
  const Mat& in = gamma ? normed : x;
  if (epilogue == Epilogue::add) {
    Mat t = alloc(y.rows, y.cols);
    linear(in, w, bias, t);
    add(y, t);
    return;
  }
  linear(in, w, bias, y);
  if (epilogue == Epilogue::gelu) gelu(y);
}

void Backend::embed(const Weights& table, const int* ids, int n, const Mat& pos, int pos_offset, Mat& y) {
  require_float32(*this, table);
  embed(table.f32, ids, n, pos, pos_offset, y);
}

GreedyPick Backend::pick_greedy(const Mat&, const StepRules&) {
  throw Error(name() + " backend: no greedy pick where the logits are (decoding filters them on the host)");
}

}  // namespace wst::engine
