// Audio input for the benchmark: any file libsndfile reads (audio/decode.h), and anything else through the
// `ffmpeg` command when it is installed. Returns 16 kHz mono float PCM.
//
//   std::vector<float> pcm = wst::audio::read_audio_file("talk.m4a");  // [n_samples]
//
// Thread-safe: no shared state (ffmpeg runs as a child process per call).
#pragma once
#include <string>
#include <vector>

namespace wst::audio {

// Missing files, directories and zero-length files are refused up front with one line each; a file
// libsndfile cannot read goes to ffmpeg; when ffmpeg is absent or fails too, the error says both.
std::vector<float> read_audio_file(const std::string& path, int sample_rate = 16000);

// Decodes with `ffmpeg -i path -f f32le -ac 1 -ar RATE -`; throws wst::Error naming the path and ffmpeg's
// own first error line. `ffmpeg` is looked up on PATH.
std::vector<float> decode_with_ffmpeg(const std::string& path, int sample_rate = 16000);

// Full path of the ffmpeg executable on PATH, or "" when there is none.
std::string find_ffmpeg();

}  // namespace wst::audio
