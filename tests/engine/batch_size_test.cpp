// The automatic batch size of transcribe_batch (engine/batch_size.h): a fixed number on the CPU, on a GPU the
// windows that fit in its free memory by the model's dimensions.
#include <gtest/gtest.h>

#include "engine/batch_size.h"

namespace wst {
namespace {

ModelInfo large_v3() {
  ModelInfo h;
  h.n_mels = 128;
  h.n_vocab = 51866;
  h.n_audio_state = h.n_text_state = 1280;
  h.n_audio_head = h.n_text_head = 20;
  h.n_audio_layer = h.n_text_layer = 32;
  return h;
}

TEST(BatchSize, HostMemoryBackendTakesTheCpuDefault) {
  EXPECT_EQ(engine::auto_batch_size(ModelInfo{}, -1), engine::kCpuBatchSize);
}

TEST(BatchSize, WindowBytesFollowTheModelDimensions) {
  const ModelInfo tiny;  // ModelInfo's defaults are tiny's dimensions
  const long long kv = 2LL * 4 * 448 * 384 * 4, cross = 2LL * 4 * 1500 * 384 * 4, enc = 1500LL * 384 * 4;
  EXPECT_GE(engine::window_device_bytes(tiny), kv + cross + enc);
  EXPECT_LT(engine::window_device_bytes(tiny), kv + cross + enc + (1 << 20));  // the step's rows: under 1 MiB
  EXPECT_GT(engine::window_device_bytes(large_v3()), 20 * engine::window_device_bytes(tiny));
}

TEST(BatchSize, GpuBatchGrowsWithFreeMemoryWithinItsBounds) {
  const ModelInfo h = large_v3();
  const long long per_window = engine::window_device_bytes(h), encoder = engine::encoder_device_bytes(h);
  EXPECT_EQ(engine::auto_batch_size(h, 0), 1);  // never below one window
  // 10 windows and the encoder's working set in 80% of the free memory.
  const long long free = (10 * per_window + encoder) / 8 * 10 + 100;
  EXPECT_EQ(engine::auto_batch_size(h, free), 10);
  EXPECT_EQ(engine::auto_batch_size(h, 140LL << 30), engine::kMaxAutoBatchSize);  // an H200's memory
}

}  // namespace
}  // namespace wst
