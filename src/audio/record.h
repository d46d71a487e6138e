// Microphone input through PortAudio for `benchmark --record`: Enter starts, Enter stops.
//
//   std::vector<float> pcm = wst::audio::record_from_microphone(16000);  // [n_samples], mono
//
// Records mono float at `sample_rate` from the default input device when it supports that rate, else at the
// device's own rate, resampled with soxr. Prompts go to stderr; the key presses are read from stdin.
// Throws wst::Error with one line when there is no input device, the stream cannot open, or nothing was
// recorded. Not thread-safe (PortAudio is initialised and terminated per call).
#pragma once
#include <vector>

namespace wst::audio {

std::vector<float> record_from_microphone(int sample_rate = 16000);

}  // namespace wst::audio
