// whisper-speedtest's native Whisper engine: the one public header.
//
//   wst::EngineOptions eo;                 // device "cpu", n_threads 0 = all cores
//   auto engine = wst::Engine::load("/path/to/ct2-model-dir", eo);
//   std::vector<float> pcm = ...;          // 16 kHz mono float in [-1, 1]
//   wst::TranscribeOptions to;             // greedy, openai-whisper's transcribe() defaults
//   wst::Transcript t = engine->transcribe(pcm, to);
//   std::cout << t.text;
//   std::vector<wst::Transcript> ts = engine->transcribe_batch({pcm_a, pcm_b}, to);  // several recordings together
//
// Thread safety: an Engine is not thread-safe; use one per thread. Loading two engines of the same model is
// fine. Errors are thrown as wst::Error (util/errors.h) with a one-line message naming the file and problem.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace wst {

struct EngineOptions {
  std::string device = "cpu";  // "cpu" (always there), or "cuda" / "cuda:N" (where built and a GPU is present)
  int n_threads = 0;           // compute threads; 0 = all cores
  // "float32" (float32 math on the file's values), "int8" (int8 weights for every linear layer, activations
  // quantised per row on the fly, as CTranslate2's int8), "float16" (decoder weights rounded to float16; on
  // CUDA every product in half precision on the tensor cores) or "bfloat16" (CUDA only).
  std::string compute_type = "float32";
  // A tokenizer.json for formats that carry none (an OpenAI .pt, an MLX directory); "" = the model's own.
  // whisper-speedtest's CLI finds one with models::find_tokenizer.
  std::string tokenizer_json;
};

// The architecture as read from the model files (never from the model's name).
struct ModelInfo {
  int n_mels = 80;
  int n_vocab = 51864;
  int n_audio_ctx = 1500;
  int n_audio_state = 384;
  int n_audio_head = 6;
  int n_audio_layer = 4;
  int n_text_ctx = 448;
  int n_text_state = 384;
  int n_text_head = 6;
  int n_text_layer = 4;
  bool multilingual = false;     // n_vocab >= 51865
  std::string path;              // model file or directory
  std::string format;            // "ctranslate2", "openai", "safetensors", "ggml" or "mlx"
  std::string tokenizer;         // where the tokenizer came from
  std::string stored_dtype;      // dtype of the stored weights: "float16", "float32"
  std::string compute_dtype;     // the compute type: "float32", "float16", "bfloat16" or "int8" (EngineOptions::compute_type)
  std::string backend;           // "cpu" or "cuda"
  int n_threads = 1;             // compute threads the backend really uses
};

// Options of one transcription; defaults are openai-whisper's transcribe() defaults, greedy.
struct TranscribeOptions {
  // Decoding at temperature 0: 1 = greedy; above 1, beam search with that many beams (openai-whisper's
  // BeamSearchDecoder, with CTranslate2's bookkeeping as faster-whisper runs it; 5 is the usual choice).
  int beam_size = 1;
  // Beam search stops once round(beam_size * patience) sequences have finished (openai's and CTranslate2's rule).
  float patience = 1.0f;
  // How finished candidates are ranked (beam search and best_of), openai-whisper's MaximumLikelihoodRanker:
  // unset = sum of log-probabilities / length (also faster-whisper's default, its length_penalty=1);
  // set to alpha = sum / ((5 + length) / 6) ^ alpha (openai's rule, not faster-whisper's length ^ alpha).
  std::optional<float> length_penalty;
  // Samples drawn per temperature above 0; the best by the ranker is kept (openai's and faster-whisper's best_of).
  int best_of = 1;
  std::string language;          // "" = detect on multilingual models, "en" on English-only ones
  std::string task = "transcribe";  // or "translate"
  std::vector<float> temperatures = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};  // fallback ladder
  float compression_ratio_threshold = 2.4f;  // fall back when the gzip ratio of the text is above
  float logprob_threshold = -1.0f;            // fall back when the average log-probability is below
  float no_speech_threshold = 0.6f;           // with a low logprob, a window above this is silence
  bool condition_on_previous_text = true;     // previous text as prompt (dropped once temperature > 0.5)
  float prompt_reset_on_temperature = 0.5f;
  std::string initial_prompt;                 // text put before the first window's prompt
  bool without_timestamps = false;            // <|notimestamps|>: one segment per window
  float max_initial_timestamp = 1.0f;         // seconds; the first timestamp may not exceed it
  std::string suppress_tokens = "-1";         // comma-separated ids; -1 = the non-speech symbol set
  bool suppress_blank = true;                 // no blank or EOT as the first sampled token
  int sample_len = 0;                         // max sampled tokens per window; 0 = n_text_ctx / 2
  uint64_t seed = 0;                          // seed of the sampler used at temperature > 0
  // transcribe_batch only: at most this many windows (one per recording) decoded together; unset =
  // Engine::default_batch_size(). Below 1 is refused.
  std::optional<int> batch_size;
};

struct Segment {
  int id = 0;
  int seek = 0;                  // mel frame where the window started
  double start_s = 0, end_s = 0;
  std::string text;
  std::vector<int> tokens;       // including timestamp tokens
  float temperature = 0;
  float avg_logprob = 0;
  float compression_ratio = 0;
  float no_speech_prob = 0;
};

struct Transcript {
  std::string text;              // all segments' text joined, as openai-whisper's result["text"]
  std::string language;
  std::vector<Segment> segments;
};

// The engine's own timings, summed since load (as whisper.cpp's whisper_get_timings).
struct Timings {
  double load_ms = 0;
  double mel_ms = 0;
  double encode_ms = 0;
  double decode_ms = 0;        // everything after the encoder, including the two below
  double filter_ms = 0;        // logit filters (suppression, timestamp rules) and token choice
  double tokenizer_ms = 0;     // text from tokens, and the compression ratio of the text
  int n_windows = 0;
  int n_decoded_tokens = 0;
};

class Engine {
 public:
  // Loads a model in any format this tool reads, judged from the contents: a CTranslate2 directory, an
  // OpenAI checkpoint (.pt), a Hugging Face safetensors directory, a whisper.cpp ggml file, an MLX directory.
  static std::unique_ptr<Engine> load(const std::string& model_path, const EngineOptions& options = {});
  virtual ~Engine() = default;

  // pcm: 16 kHz mono samples.
  virtual Transcript transcribe(const std::vector<float>& pcm, const TranscribeOptions& options = {}) = 0;
  // Several independent recordings transcribed together; transcript i is what transcribe(pcms[i], options)
  // gives: the same tokens, segments and timestamps (docs/BATCHING.md: exact where the backend computes each
  // row of a batched product as it computes one row alone, as the CPU does for float16 and int8 decoder
  // weights up to 16 rows; elsewhere float rounding may part them at a near-tie). The recordings advance window
  // by window in lockstep: each round encodes one window of each (one at a time) and decodes them greedily at
  // temperature 0 as one batch of at most options.batch_size windows; a window whose result calls for
  // temperature fallback is redone alone on transcribe()'s path; a recording that ends leaves its place to the
  // next one waiting. With beam_size > 1, or a temperature ladder that does not start at 0, the recordings are
  // transcribed one after another. An empty recording is refused before any work ("audio 2 of 3: empty (0
  // samples)"); an empty list gives an empty list.
  virtual std::vector<Transcript> transcribe_batch(const std::vector<std::vector<float>>& pcms,
                                                   const TranscribeOptions& options = {}) = 0;
  // One long recording cut at silences into chunks of at most 30 s (by energy in 30 ms frames, each cut at the
  // quietest silent stretch in the 10 s before the limit: engine/chunking.h), the chunks transcribed together
  // as transcribe_batch does, each on its own (options.condition_on_previous_text is taken as false; a
  // multilingual model detects each chunk's language where none is given), and joined into one transcript:
  // segments moved by their chunk's start (seek, times), texts joined. Not transcribe()'s result: a chunk
  // knows nothing of the text before it (faster-whisper's BatchedInferencePipeline decodes its chunks alike).
  virtual Transcript transcribe_chunked(const std::vector<float>& pcm, const TranscribeOptions& options = {}) = 0;
  // The batch size transcribe_batch takes when options.batch_size is unset: 8 on the CPU; on a GPU as many
  // windows as fit in its free memory by the model's dimensions (KV caches, cross-attention K/V, encoder
  // output), between 1 and 32.
  virtual int default_batch_size() const = 0;
  virtual const ModelInfo& info() const = 0;
  virtual Timings timings() const = 0;
  // The most GPU memory the engine has held since load, in bytes: the CUDA backend's pool high-water mark
  // (weights, activations, cuBLAS workspace; not the CUDA context). -1 on the CPU.
  virtual long long peak_device_bytes() const { return -1; }
};

// Backends this build can run here ("cpu" always; "cuda" when compiled in and a GPU is present).
std::vector<std::string> available_devices();
// "" when `device` ("cpu", "cuda", "cuda:N") can run here, else one line saying why not, e.g.
// "no CUDA device: CUDA driver version is insufficient for CUDA runtime version".
std::string device_unavailable_reason(const std::string& device);

}  // namespace wst
