// whisper-speedtest transcribe AUDIO... --model PATH: the native engine on one file, or on several decoded
// together (Engine::transcribe_batch, --batch-size) with one transcript each.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "bench/model_source.h"
#include "cli/commands.h"
#include "models/tokenizer_source.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst::cli {
namespace {

std::string timestamp(double s) {
  char buf[32];
  int ms = static_cast<int>(s * 1000.0 + 0.5);
  std::snprintf(buf, sizeof buf, "%02d:%02d.%03d", ms / 60000, (ms / 1000) % 60, ms % 1000);
  return buf;
}

// --verbose: where the time went, on stderr.
void print_stages(const ModelInfo& i, const Timings& t) {
  std::fprintf(stderr, "model    %s (%s, stored %s, compute %s, %s, %d threads)\n", i.path.c_str(), i.format.c_str(),
               i.stored_dtype.c_str(), i.compute_dtype.c_str(), i.backend.c_str(), i.n_threads);
  std::fprintf(stderr, "load     %9.1f ms\n", t.load_ms);
  std::fprintf(stderr, "mel      %9.1f ms\n", t.mel_ms);
  std::fprintf(stderr, "encoder  %9.1f ms  %d window(s), %.1f ms each\n", t.encode_ms, t.n_windows,
               t.n_windows ? t.encode_ms / t.n_windows : 0.0);
  std::fprintf(stderr, "decoder  %9.1f ms  %d token(s), %.2f ms each (logit filters %.1f ms, tokenizer %.1f ms)\n",
               t.decode_ms, t.n_decoded_tokens, t.n_decoded_tokens ? t.decode_ms / t.n_decoded_tokens : 0.0,
               t.filter_ms, t.tokenizer_ms);
}

struct TranscribeArgs {
  std::vector<std::string> audio;
  std::optional<int> batch_size;
  std::string model, device = "cpu", compute_type = "float32", language, task = "transcribe", initial_prompt;
  int threads = 0, beam_size = 1, best_of = 1;
  float patience = 1.0f;
  std::optional<float> length_penalty;
  bool chunked = false, segments = false, json = false, no_timestamps = false, no_condition = false, verbose = false;
  std::vector<float> temperatures;
  uint64_t seed = 0;
};

nlohmann::json transcript_json(const Transcript& t, const Engine& engine) {
  nlohmann::json j;
  j["text"] = t.text;
  j["language"] = t.language;
  j["segments"] = nlohmann::json::array();
  for (const auto& s : t.segments)
    j["segments"].push_back({{"id", s.id}, {"seek", s.seek}, {"start", s.start_s}, {"end", s.end_s}, {"text", s.text},
                             {"tokens", s.tokens}, {"temperature", s.temperature}, {"avg_logprob", s.avg_logprob},
                             {"compression_ratio", s.compression_ratio}, {"no_speech_prob", s.no_speech_prob}});
  const ModelInfo& i = engine.info();
  j["model"] = {{"path", i.path}, {"format", i.format}, {"stored_dtype", i.stored_dtype}, {"compute_type", i.compute_dtype}, {"backend", i.backend},
                {"n_mels", i.n_mels}, {"n_vocab", i.n_vocab}, {"n_audio_layer", i.n_audio_layer},
                {"n_text_layer", i.n_text_layer}, {"n_audio_state", i.n_audio_state}};
  Timings tm = engine.timings();
  j["timings"] = {{"load_ms", tm.load_ms}, {"mel_ms", tm.mel_ms}, {"encode_ms", tm.encode_ms},
                  {"decode_ms", tm.decode_ms}, {"filter_ms", tm.filter_ms}, {"tokenizer_ms", tm.tokenizer_ms}, {"n_windows", tm.n_windows}, {"n_decoded_tokens", tm.n_decoded_tokens}};
  return j;
}

void print_text(const Transcript& t, bool segments) {
  if (segments) {
    for (const auto& s : t.segments) std::cout << "[" << timestamp(s.start_s) << " --> " << timestamp(s.end_s) << "]" << s.text << "\n";
  } else {
    std::cout << t.text << "\n";
  }
}

void run(const TranscribeArgs& a) {
  if (a.beam_size < 1) throw Error("--beam-size must be at least 1 (got " + std::to_string(a.beam_size) + ")");
  if (a.best_of < 1) throw Error("--best-of must be at least 1 (got " + std::to_string(a.best_of) + ")");
  if (!(a.patience > 0)) throw Error("--patience must be above 0 (got " + std::to_string(a.patience) + ")");
  if (a.batch_size && *a.batch_size < 1)
    throw Error("--batch-size must be at least 1 (got " + std::to_string(*a.batch_size) + ")");
  EngineOptions eo;
  eo.device = a.device;
  eo.n_threads = a.threads;
  eo.compute_type = a.compute_type;
  std::vector<std::vector<float>> pcms;
  for (const auto& f : a.audio) pcms.push_back(audio::load_audio(f));
  // A catalog name ("tiny.en") is looked up in every cache; a path is used as given.
  const std::string path =
      bench::resolve_model_for({"ctranslate2", "safetensors", "openai", "ggml", "ggml-q8_0", "mlx"}, a.model).path;
  eo.tokenizer_json = models::tokenizer_json_for(path);
  auto engine = Engine::load(path, eo);
  TranscribeOptions to;
  to.language = a.language;
  to.task = a.task;
  to.initial_prompt = a.initial_prompt;
  to.without_timestamps = a.no_timestamps;
  to.condition_on_previous_text = !a.no_condition;
  to.seed = a.seed;
  to.beam_size = a.beam_size;
  to.patience = a.patience;
  to.length_penalty = a.length_penalty;
  to.best_of = a.best_of;
  to.batch_size = a.batch_size;
  if (!a.temperatures.empty()) to.temperatures = a.temperatures;
  // One file: transcribe(); several: decoded together, a transcript each; --chunked: each file's chunks together.
  std::vector<Transcript> ts;
  if (a.chunked)
    for (const auto& pcm : pcms) ts.push_back(engine->transcribe_chunked(pcm, to));
  else if (pcms.size() == 1)
    ts.push_back(engine->transcribe(pcms[0], to));
  else
    ts = engine->transcribe_batch(pcms, to);
  if (a.verbose) {
    print_stages(engine->info(), engine->timings());
    if (pcms.size() > 1 || a.chunked)
      std::fprintf(stderr, "batch    %d window(s) decoded together at most\n", to.batch_size.value_or(engine->default_batch_size()));
  }

  if (a.json) {
    if (ts.size() == 1) {
      std::cout << transcript_json(ts[0], *engine).dump(2) << "\n";
      return;
    }
    // Several files: an array, each element naming its file (timings are the whole run's).
    nlohmann::json all = nlohmann::json::array();
    for (size_t i = 0; i < ts.size(); ++i) {
      nlohmann::json j = transcript_json(ts[i], *engine);
      j["file"] = a.audio[i];
      all.push_back(std::move(j));
    }
    std::cout << all.dump(2) << "\n";
    return;
  }
  for (size_t i = 0; i < ts.size(); ++i) {
    if (ts.size() > 1) std::cout << "== " << a.audio[i] << "\n";
    print_text(ts[i], a.segments);
  }
}

}  // namespace

void add_transcribe_command(CLI::App& app) {
  auto args = std::make_shared<TranscribeArgs>();
  CLI::App* c = app.add_subcommand("transcribe", "Transcribe audio files with the native engine");
  c->add_option("audio", args->audio, "Audio files (WAV, FLAC, OGG, MP3); several are decoded together")->required();
  c->add_option("-m,--model", args->model, "Model: a catalog name (tiny.en, small, ...) found in any cache, or a CTranslate2 directory")->required();
  c->add_option("--device", args->device, "cpu or cuda");
  c->add_option("-t,--threads", args->threads, "Compute threads (0 = all cores)");
  c->add_option("--compute-type", args->compute_type,
                "float32 (default; the file's values), int8 (int8 weights, as faster-whisper's int8), float16 or "
                "bfloat16 (CUDA: products on the tensor cores)");
  c->add_option("-l,--language", args->language, "Language code; empty = detect (multilingual models)");
  c->add_option("--task", args->task, "transcribe or translate");
  c->add_option("--initial-prompt", args->initial_prompt, "Text to condition the first window on");
  c->add_option("--temperature", args->temperatures, "Temperature fallback ladder (default 0 0.2 0.4 0.6 0.8 1)");
  c->add_option("--seed", args->seed, "Seed of the sampler used above temperature 0");
  c->add_option("--beam-size", args->beam_size, "Beams at temperature 0 (1 = greedy; 5 is usual)");
  c->add_option("--patience", args->patience, "Beam search stops after round(beam size * patience) finished sequences");
  c->add_option("--length-penalty", args->length_penalty,
                "Rank candidates by sum logprob / ((5 + length) / 6)^alpha (default: / length)");
  c->add_option("--best-of", args->best_of, "Samples per temperature above 0; the most probable is kept");
  c->add_option("--batch-size", args->batch_size,
                "Several files or --chunked: windows decoded together at most (default: 8 on the CPU, from free memory on a GPU)");
  c->add_flag("--chunked", args->chunked,
             "Cut each file at silences into chunks of at most 30 s and decode them together, each without the "
             "text before it as prompt (not the same result as without)");
  c->add_flag("--no-timestamps", args->no_timestamps, "Decode without timestamp tokens");
  c->add_flag("--no-condition-on-previous-text", args->no_condition, "Do not prompt with the previous text");
  c->add_flag("--segments", args->segments, "Print segments with timestamps");
  c->add_flag("--json", args->json, "Print everything as JSON");
  c->add_flag("-v,--verbose", args->verbose, "Print where the time went (load, mel, encoder, decoder) on stderr");
  c->callback([args] { run(*args); });
}

}  // namespace wst::cli
