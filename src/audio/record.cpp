// PortAudio recording; see record.h.
#include "audio/record.h"

#include <portaudio.h>
#include <soxr.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>

#include "util/errors.h"

namespace wst::audio {
namespace {

// PortAudio prints ALSA/JACK probing noise on stderr during Pa_Initialize; it is muted for that call only.
class StderrMuted {
 public:
  StderrMuted() : saved_(::dup(STDERR_FILENO)) {
    std::fflush(stderr);
    if (FILE* null = std::fopen("/dev/null", "w")) {
      ::dup2(::fileno(null), STDERR_FILENO);
      std::fclose(null);
    }
  }
  ~StderrMuted() {
    if (saved_ >= 0) ::dup2(saved_, STDERR_FILENO), ::close(saved_);
  }

 private:
  int saved_;
};

struct Capture {
  std::mutex mu;
  std::vector<float> samples;  // [n_frames], mono
  int n_channels = 1;
};

int on_audio(const void* input, void*, unsigned long n_frames, const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags,
             void* user) {
  auto* cap = static_cast<Capture*>(user);
  const auto* in = static_cast<const float*>(input);
  if (!in) return paContinue;
  std::lock_guard<std::mutex> lock(cap->mu);
  for (unsigned long i = 0; i < n_frames; ++i) {
    float sum = 0;
    for (int c = 0; c < cap->n_channels; ++c) sum += in[i * cap->n_channels + c];
    cap->samples.push_back(sum / static_cast<float>(cap->n_channels));
  }
  return paContinue;
}

void check(PaError err, const std::string& what) {
  if (err != paNoError) throw Error("microphone: " + what + " failed (PortAudio: " + Pa_GetErrorText(err) + ")");
}

struct PaSession {
  PaSession() {
    PaError err;
    {
      StderrMuted mute;
      err = Pa_Initialize();
    }
    check(err, "initialising PortAudio");
  }
  ~PaSession() { Pa_Terminate(); }
};

}  // namespace

std::vector<float> record_from_microphone(int sample_rate) {
  PaSession session;
  PaDeviceIndex device = Pa_GetDefaultInputDevice();
  if (device == paNoDevice) {
    throw Error("microphone: no audio input device found (PortAudio sees " + std::to_string(Pa_GetDeviceCount()) +
                " devices, none for input); use -a FILE or -b instead of --record");
  }
  const PaDeviceInfo* info = Pa_GetDeviceInfo(device);
  PaStreamParameters params{};
  params.device = device;
  params.channelCount = info->maxInputChannels >= 1 ? 1 : info->maxInputChannels;
  params.sampleFormat = paFloat32;
  params.suggestedLatency = info->defaultLowInputLatency;
  double rate = sample_rate;
  if (Pa_IsFormatSupported(&params, nullptr, rate) != paFormatIsSupported) rate = info->defaultSampleRate;

  Capture cap;
  cap.n_channels = params.channelCount;
  PaStream* stream = nullptr;
  check(Pa_OpenStream(&stream, &params, nullptr, rate, paFramesPerBufferUnspecified, paClipOff, on_audio, &cap),
        std::string("opening ") + info->name);
  std::fprintf(stderr, "Microphone: %s. Press Enter to start recording.", info->name);
  std::string line;
  if (!std::getline(std::cin, line)) {
    Pa_CloseStream(stream);
    throw Error("microphone: standard input closed before Enter was pressed; --record needs a terminal");
  }
  check(Pa_StartStream(stream), "starting the recording");
  std::fprintf(stderr, "Recording... press Enter to stop.");
  std::getline(std::cin, line);  // end of input stops the recording too
  check(Pa_StopStream(stream), "stopping the recording");
  Pa_CloseStream(stream);

  std::vector<float> pcm;
  {
    std::lock_guard<std::mutex> lock(cap.mu);
    pcm.swap(cap.samples);
  }
  if (pcm.empty()) throw Error("microphone: nothing was recorded");
  if (static_cast<int>(rate) != sample_rate) {
    std::vector<float> out(static_cast<size_t>(std::ceil(pcm.size() * sample_rate / rate)) + 16);
    size_t n_done = 0;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_error_t err = soxr_oneshot(rate, sample_rate, 1, pcm.data(), pcm.size(), nullptr, out.data(), out.size(),
                                    &n_done, &io, &q, nullptr);
    if (err) throw Error(std::string("microphone: resampling failed (soxr: ") + err + ")");
    out.resize(n_done);
    pcm.swap(out);
  }
  std::fprintf(stderr, "Recorded %.1f s.\n", static_cast<double>(pcm.size()) / sample_rate);
  return pcm;
}

}  // namespace wst::audio
