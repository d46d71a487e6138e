// Audio input: any file libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3 where the library was built with
// it) decoded to mono float PCM at the rate the engine wants.
//
//   std::vector<float> pcm = wst::audio::load_audio("jfk.wav");  // 16 kHz mono, [n_samples]
//
// Thread-safe: no shared state; each call opens its own file.
#pragma once
#include <string>
#include <vector>

namespace wst::audio {

// Reads `path`, averages its channels to mono, resamples to `sample_rate` with soxr (high quality) when the
// file's rate differs, and clamps to [-1, 1] (as the s16 conversion in openai-whisper's load_audio does).
// Integer PCM is scaled by 1/2^(bits-1), so 16-bit samples come back as s16 / 32768 exactly.
// Returns [n_samples]. Throws wst::Error with one line naming the path and the problem: missing file,
// unreadable file, not audio, a sample rate below 1000 Hz, a sample that is NaN or infinite, or empty audio
// (0 samples).
std::vector<float> load_audio(const std::string& path, int sample_rate = 16000);

}  // namespace wst::audio
