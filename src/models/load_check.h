// `--verify load`: loading a model goes through a child process with a timeout, never in-process signal
// tricks, so a model that crashes or hangs the loader cannot take check-models down with it.
//
// The child is `whisper-speedtest transcribe <silent.wav> --model <path>` on a one-second silent clip (the
// format is detected from the files, as for any --model path).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "models/resolver.h"
#include "models/verify.h"

namespace wst::models {

// Runs argv[0] with argv (no shell), stdout discarded, stderr captured. Complete when it exits 0 within
// `timeout_s`; corrupt otherwise, with the exit status or signal and the last line of stderr; on timeout
// the child's whole process group is killed.
FileCheck run_load_child(const std::vector<std::string>& argv, int timeout_s);

// Writes a 16 kHz mono 16-bit PCM WAV of `n_samples` zeros.
void write_silent_wav(const std::filesystem::path& path, int n_samples);

// The child command for a found copy: <exe> transcribe <wav> --model <path>.
std::vector<std::string> transcribe_argv(const std::filesystem::path& exe, const Probe& copy,
                                         const std::filesystem::path& wav);

}  // namespace wst::models
