#include "engine/decoding.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>

#include "engine/encoder.h"
#include "engine/mel.h"
#include "util/errors.h"

namespace wst::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int kSamples30s = 30 * kSampleRate;

// Adds the time from construction to destruction to *acc (nothing when acc is null).
class StageTimer {
 public:
  explicit StageTimer(double* acc);
  ~StageTimer();

 private:
  double* acc_;
  double t0_;
};

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

StageTimer::StageTimer(double* acc) : acc_(acc), t0_(acc ? now_ms() : 0) {}
StageTimer::~StageTimer() {
  if (acc_) *acc_ += now_ms() - t0_;
}

// exp(x) in double for x <= 0, in plain arithmetic so loops over it vectorise (std::exp does not): x = n ln2 + r
// with |r| <= ln2/2, a degree-13 Taylor polynomial of e^r (truncation below 1e-17 relative), scaled by 2^n through
// the exponent bits; within 2 ulp of std::exp. 0 below -708 (where std::exp reaches subnormals).
inline double exp_nonpositive_d(double x) {
  const double kLog2e = 1.4426950408889634, kLn2Hi = 6.93145751953125e-1, kLn2Lo = 1.42860682030941723212e-6;
  const bool tiny = x < -708.0;
  x = tiny ? -708.0 : x;
  const double kRound = 6755399441055744.0;  // 1.5 * 2^52: adding and subtracting rounds to an integer
  const double n = (x * kLog2e + kRound) - kRound;
  const double r = (x - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const int64_t bits = (static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, 8);
  return tiny ? 0.0 : p * scale;
}

// log_softmax in double precision, returned as float. Vectorised (about 1 ms a token with std::exp on 51864
// logits; the sums' order differs from a sequential loop only in double rounding).
std::vector<float> log_softmax(const std::vector<float>& x) {
  const float* xp = x.data();
  const size_t n = x.size();
  float mx = kNegInf;
#pragma omp simd reduction(max : mx)
  for (size_t i = 0; i < n; ++i) mx = xp[i] > mx ? xp[i] : mx;
  double sum = 0;
  const double dmx = mx;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) {
    const double e = exp_nonpositive_d(static_cast<double>(xp[i]) - dmx);
    sum += xp[i] == kNegInf ? 0.0 : e;
  }
  const double lse = mx + std::log(sum);
  std::vector<float> out(n);
  float* op = out.data();
#pragma omp simd
  for (size_t i = 0; i < n; ++i) op[i] = xp[i] == kNegInf ? kNegInf : static_cast<float>(xp[i] - lse);
  return out;
}

// Python's str.strip() for the whitespace Whisper text can hold.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::vector<int> parse_suppress_tokens(const std::string& spec, const Tokenizer& tok) {
  std::vector<int> out;
  bool non_speech = false;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = strip(item);
    if (item.empty()) continue;
    int id;
    try {
      size_t used = 0;
      id = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error("--suppress-tokens: \"" + item + "\" is not a token id");
    }
    if (id == -1)
      non_speech = true;
    else if (id < 0 || id >= tok.n_vocab())
      throw Error("--suppress-tokens: token id " + std::to_string(id) + " is outside the vocabulary");
    else
      out.push_back(id);
  }
  if (non_speech)
    for (int t : tok.non_speech_tokens()) out.push_back(t);
  // Always suppressed, as openai-whisper's DecodingTask._get_suppress_tokens.
  for (int t : {tok.transcribe(), tok.translate(), tok.sot(), tok.sot_prev(), tok.sot_lm(), tok.no_speech()})
    if (t >= 0) out.push_back(t);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

float compression_ratio(const std::string& text) {
  if (text.empty()) return 0.0f;
  uLongf n = compressBound(text.size());
  std::vector<Bytef> buf(n);
  if (compress2(buf.data(), &n, reinterpret_cast<const Bytef*>(text.data()), text.size(), Z_DEFAULT_COMPRESSION) != Z_OK)
    throw Error("zlib: compression failed");
  return static_cast<float>(text.size()) / static_cast<float>(n);
}

WindowDecoder::WindowDecoder(const WhisperModel& model, const Tokenizer& tokenizer, Decoder& decoder,
                             const TranscribeOptions& options)
    : model_(model), tok_(tokenizer), decoder_(decoder), options_(options) {
  suppress_every_step_ = parse_suppress_tokens(options.suppress_tokens, tok_);
  if (!options.without_timestamps) suppress_every_step_.push_back(tok_.no_timestamps());
  if (options.suppress_blank) {
    suppress_begin_ = tok_.encode(" ");
    suppress_begin_.push_back(tok_.eot());
  }
  if (options.max_initial_timestamp >= 0)
    max_initial_timestamp_index_ = static_cast<int>(std::lround(options.max_initial_timestamp / 0.02f));
  sample_len_ = options.sample_len > 0 ? options.sample_len : model.info.n_text_ctx / 2;
}

StepRules WindowDecoder::step_rules(const std::vector<int>& sampled) const {
  StepRules r = options_.without_timestamps
                    ? StepRules{}
                    : timestamp_step_rules(sampled, tok_.timestamp_begin(), tok_.eot(), model_.info.n_vocab);
  r.suppress = &suppress_every_step_;
  return r;
}

// As openai-whisper's SuppressBlank, SuppressTokens and ApplyTimestampRules, in that order (the masks commute;
// only the last rule, which compares probabilities, must come after them).
void WindowDecoder::apply_filters(std::vector<float>& logits, const std::vector<int>& sampled) const {
  const int n_vocab = static_cast<int>(logits.size());
  if (sampled.empty())
    for (int t : suppress_begin_) logits[t] = kNegInf;
  const StepRules r = step_rules(sampled);
  for (int t : *r.suppress) logits[t] = kNegInf;
  std::fill(logits.begin() + r.mask_a_begin, logits.begin() + r.mask_a_end, kNegInf);
  std::fill(logits.begin() + r.mask_b_begin, logits.begin() + r.mask_b_end, kNegInf);
  if (!r.timestamp_rule) return;
  const int ts_begin = r.ts_begin;
  if (sampled.empty()) {
    for (int t = 0; t < ts_begin; ++t) logits[t] = kNegInf;  // the window starts with a timestamp
    if (max_initial_timestamp_index_ >= 0)
      for (int t = ts_begin + max_initial_timestamp_index_ + 1; t < n_vocab; ++t) logits[t] = kNegInf;
  }
  // If the timestamps together are more probable than any single text token, a timestamp comes next.
  std::vector<float> lp = log_softmax(logits);
  float max_text = kNegInf;
  for (int t = 0; t < ts_begin; ++t) max_text = std::max(max_text, lp[t]);
  float mx = kNegInf;
  for (int t = ts_begin; t < n_vocab; ++t) mx = std::max(mx, lp[t]);
  if (mx != kNegInf) {
    double s = 0;
    for (int t = ts_begin; t < n_vocab; ++t)
      if (lp[t] != kNegInf) s += std::exp(static_cast<double>(lp[t]) - mx);
    const double ts_logprob = mx + std::log(s);
    if (ts_logprob > max_text)
      for (int t = 0; t < ts_begin; ++t) logits[t] = kNegInf;
  }
}

std::vector<float> WindowDecoder::prompt_forward(const std::vector<int>& initial, int seq, float& no_speech_prob) {
  const int n_vocab = model_.info.n_vocab;
  const int sot_index = static_cast<int>(std::find(initial.begin(), initial.end(), tok_.sot()) - initial.begin());
  if (sot_index >= static_cast<int>(initial.size())) throw Error("decoding: prompt has no start-of-transcript token");
  std::vector<float> both;
  decoder_.forward(initial, {sot_index, static_cast<int>(initial.size()) - 1}, both, seq);
  // No-speech probability from the raw logits at the start-of-transcript position.
  std::vector<float> sot_logits(both.begin(), both.begin() + n_vocab);
  const std::vector<float> sot_lp = log_softmax(sot_logits);
  no_speech_prob = tok_.no_speech() >= 0 ? std::exp(sot_lp[tok_.no_speech()]) : 0.0f;
  return std::vector<float>(both.begin() + n_vocab, both.end());
}

std::vector<float> WindowDecoder::prompt_logits(const std::vector<int>& initial) {
  if (initial == cached_initial_ && !cached_first_logits_.empty()) {
    decoder_.truncate(static_cast<int>(initial.size()));
    return cached_first_logits_;
  }
  decoder_.truncate(0);
  cached_first_logits_ = prompt_forward(initial, 0, cached_no_speech_);
  cached_initial_ = initial;
  return cached_first_logits_;
}

namespace {

// A token drawn from softmax(logprobs / temperature), as openai-whisper's Categorical(logits / temperature).
int sample_token(const std::vector<float>& lp, float temperature, std::mt19937_64& rng) {
  std::vector<double> w(lp.size());
  for (size_t t = 0; t < lp.size(); ++t) w[t] = lp[t] == kNegInf ? 0.0 : std::exp(static_cast<double>(lp[t]) / temperature);
  std::discrete_distribution<int> dist(w.begin(), w.end());
  return dist(rng);
}

}  // namespace

// A sequence decoded one token at a time (greedy or sampled), stopped as openai-whisper's loop stops it.
struct WindowDecoder::Sampling {
  std::vector<int> tokens;  // sampled so far, EOT excluded
  double sum_logprob = 0;
  int total = 0;            // prompt and sampled tokens
  bool done = false;
  explicit Sampling(size_t n_prompt) : total(static_cast<int>(n_prompt)) {}
  // Appends `next`; done at EOT (not kept) or once the context is full.
  void push(int next, int eot, int n_ctx) {
    ++total;
    if (next == eot) {
      done = true;
      return;
    }
    tokens.push_back(next);
    if (total > n_ctx) done = true;  // as openai-whisper: stop once the context is full
  }
};

int WindowDecoder::next_token(std::vector<float>& logits, const std::vector<int>& sampled, float temperature,
                              std::mt19937_64& rng, double& sum_logprob) const {
  StageTimer st(timings_ ? &timings_->filter_ms : nullptr);
  apply_filters(logits, sampled);
  const std::vector<float> lp = log_softmax(logits);
  int next = 0;
  if (temperature == 0.0f) {
    // First maximum, as torch.argmax.
    next = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  } else {
    next = sample_token(lp, temperature, rng);
  }
  sum_logprob += lp[next];
  return next;
}

void WindowDecoder::finish_result(WindowResult& r, double sum_logprob) const {
  r.avg_logprob = static_cast<float>(sum_logprob / (static_cast<double>(r.tokens.size()) + 1.0));
  StageTimer st(timings_ ? &timings_->tokenizer_ms : nullptr);
  r.text = strip(tok_.decode(r.tokens));
  r.compression_ratio = compression_ratio(r.text);
}

WindowResult WindowDecoder::decode(const std::vector<int>& initial, float temperature, std::mt19937_64& rng) {
  const int n_ctx = model_.info.n_text_ctx;
  std::vector<float> logits = prompt_logits(initial);
  // At most sample_len tokens, and never past the text context (as openai-whisper, and CTranslate2's
  // max_length = min(n_text_ctx / 2, n_text_ctx - prompt)).
  const int max_steps = std::min(sample_len_, n_ctx - static_cast<int>(initial.size()) + 1);

  WindowResult r;
  r.temperature = temperature;
  r.no_speech_prob = cached_no_speech_;
  const bool beam = temperature == 0.0f && options_.beam_size > 1;
  const bool best_of = temperature > 0.0f && options_.best_of > 1;
  if (beam || best_of) {
    r.candidates = beam ? beam_search(std::move(logits), max_steps) : sample_best_of(logits, max_steps, temperature, rng);
    const int best = best_hypothesis(r.candidates, options_.length_penalty);
    if (best < 0) throw Error("decoding: the search finished no sequence");
    r.tokens = r.candidates[best].tokens;
    finish_result(r, r.candidates[best].sum_logprob);
    return r;
  }

  Sampling s(initial.size());
  // On a GPU the greedy steps after the first keep their logits there: the rules are applied and the token
  // chosen where they are, and 8 bytes come back instead of n_vocab floats (their time is the decoder's).
  const bool pick_on_device = temperature == 0.0f && decoder_.picks_greedy();
  for (int i = 0; i < sample_len_ && !s.done; ++i) {
    if (i > 0 && pick_on_device) {
      const GreedyPick p = decoder_.forward_and_pick(s.tokens.back(), step_rules(s.tokens));
      s.sum_logprob += p.logprob;
      s.push(p.token, tok_.eot(), n_ctx);
      continue;
    }
    if (i > 0) decoder_.forward({s.tokens.back()}, {0}, logits);
    s.push(next_token(logits, s.tokens, temperature, rng, s.sum_logprob), tok_.eot(), n_ctx);
  }
  r.tokens = std::move(s.tokens);
  finish_result(r, s.sum_logprob);
  return r;
}

std::vector<WindowResult> WindowDecoder::decode_greedy_batch(const std::vector<std::vector<int>>& initials) {
  const int n = static_cast<int>(initials.size()), n_vocab = model_.info.n_vocab, n_ctx = model_.info.n_text_ctx;
  if (n != decoder_.n_seq())
    throw Error("decoding: " + std::to_string(n) + " prompts for " + std::to_string(decoder_.n_seq()) + " windows");
  reset();
  std::vector<WindowResult> out(n);
  std::vector<Sampling> seqs;
  std::vector<std::vector<float>> first(n);
  for (int i = 0; i < n; ++i) {
    first[i] = prompt_forward(initials[i], i, out[i].no_speech_prob);
    seqs.emplace_back(initials[i].size());
  }
  // Each window's tokens are chosen exactly as decode() chooses them at temperature 0, one decoder row per
  // window still decoding; finished windows leave the batch.
  std::mt19937_64 no_rng;  // temperature 0 draws nothing
  std::vector<int> alive(n);  // the window of each decoder sequence
  for (int i = 0; i < n; ++i) alive[i] = i;
  // On a GPU the steps after the first keep their logits there and pick each token there, as decode() does.
  const bool pick_on_device = decoder_.picks_greedy();
  std::vector<float> logits, row;
  std::vector<GreedyPick> picks;
  for (int step = 0; step < sample_len_ && !alive.empty(); ++step) {
    if (step > 0) {
      std::vector<int> last;
      std::vector<StepRules> rules;
      for (int i : alive) {
        last.push_back(seqs[i].tokens.back());
        if (pick_on_device) rules.push_back(step_rules(seqs[i].tokens));
      }
      if (pick_on_device)
        picks = decoder_.forward_step_and_pick(last, rules);
      else
        decoder_.forward_step(last, logits);
    }
    std::vector<int> keep, still;  // decoder sequences and windows that go on
    for (size_t a = 0; a < alive.size(); ++a) {
      Sampling& s = seqs[alive[a]];
      if (step > 0 && pick_on_device) {
        s.sum_logprob += picks[a].logprob;
        s.push(picks[a].token, tok_.eot(), n_ctx);
      } else {
        if (step == 0)
          row = std::move(first[alive[a]]);
        else
          row.assign(logits.begin() + a * static_cast<size_t>(n_vocab),
                     logits.begin() + (a + 1) * static_cast<size_t>(n_vocab));
        s.push(next_token(row, s.tokens, 0.0f, no_rng, s.sum_logprob), tok_.eot(), n_ctx);
      }
      if (!s.done) {
        keep.push_back(static_cast<int>(a));
        still.push_back(alive[a]);
      }
    }
    if (!keep.empty() && keep.size() != alive.size()) decoder_.reorder(keep);
    alive = std::move(still);
  }
  for (int i = 0; i < n; ++i) {
    out[i].temperature = 0.0f;
    out[i].tokens = std::move(seqs[i].tokens);
    finish_result(out[i], seqs[i].sum_logprob);
  }
  return out;
}

std::vector<Hypothesis> WindowDecoder::beam_search(std::vector<float> logits, int max_steps) {
  const int n_vocab = model_.info.n_vocab;
  BeamSearch bs(options_.beam_size, options_.patience, tok_.eot());
  std::vector<float> lp_all, row(n_vocab);
  // Step 0 expands the prompt's one sequence (its logits are cached); the decoder forks once the first
  // beams are chosen, then runs all beams as one batch per step.
  for (int step = 0; step < max_steps; ++step) {
    const auto& beams = bs.beams();
    const int n = static_cast<int>(beams.size());
    if (step > 0 && decoder_.picks_greedy()) {
      // On a GPU: every beam's rules applied there, and only its 2 * beam_size best continuations come back.
      std::vector<int> last(n);
      std::vector<StepRules> rules(n);
      for (int b = 0; b < n; ++b) {
        last[b] = beams[b].back();
        rules[b] = step_rules(beams[b]);
      }
      const std::vector<int> src = bs.step_from_candidates(
          decoder_.forward_step_top(last, rules, bs.beam_logprobs(), 2 * bs.beam_size()), step + 1 == max_steps);
      if (bs.done()) break;
      decoder_.reorder(src);
      continue;
    }
    if (step > 0) {
      std::vector<int> last(n);
      for (int b = 0; b < n; ++b) last[b] = beams[b].back();
      decoder_.forward_step(last, logits);
    }
    lp_all.resize(static_cast<size_t>(n) * n_vocab);
    for (int b = 0; b < n; ++b) {
      std::copy_n(logits.begin() + static_cast<size_t>(b) * n_vocab, n_vocab, row.begin());
      apply_filters(row, beams[b]);  // each beam's own history drives the timestamp rules
      const std::vector<float> lp = log_softmax(row);
      std::copy(lp.begin(), lp.end(), lp_all.begin() + static_cast<size_t>(b) * n_vocab);
    }
    const std::vector<int> src = bs.step(lp_all, n_vocab, step + 1 == max_steps);
    if (bs.done()) break;
    if (step == 0)
      decoder_.fork(static_cast<int>(src.size()));  // every new beam continues the prompt
    else
      decoder_.reorder(src);
  }
  decoder_.reorder({0});  // one sequence again, holding the prompt for the next temperature
  return bs.finished();
}

std::vector<Hypothesis> WindowDecoder::sample_best_of(const std::vector<float>& first, int max_steps, float temperature,
                                                      std::mt19937_64& rng) {
  const int n_vocab = model_.info.n_vocab, eot = tok_.eot();
  const int n = options_.best_of;
  std::vector<Hypothesis> seqs(n);
  std::vector<double> sums(n, 0.0);
  std::vector<int> alive;  // candidates still sampling, in the decoder's sequence order

  // Step 0: every candidate draws from the prompt's one row of logits.
  std::vector<float> row = first;
  apply_filters(row, {});
  std::vector<float> lp = log_softmax(row);
  for (int i = 0; i < n; ++i) {
    const int next = sample_token(lp, temperature, rng);
    sums[i] += lp[next];
    if (next == eot) continue;
    seqs[i].tokens.push_back(next);
    if (max_steps > 1) alive.push_back(i);
  }
  if (!alive.empty()) decoder_.fork(static_cast<int>(alive.size()));

  std::vector<float> logits;
  for (int step = 1; step < max_steps && !alive.empty(); ++step) {
    std::vector<int> last;
    for (int i : alive) last.push_back(seqs[i].tokens.back());
    decoder_.forward_step(last, logits);
    std::vector<int> keep, still;  // decoder positions and candidates that go on
    for (size_t a = 0; a < alive.size(); ++a) {
      Hypothesis& h = seqs[alive[a]];
      row.assign(logits.begin() + a * static_cast<size_t>(n_vocab), logits.begin() + (a + 1) * static_cast<size_t>(n_vocab));
      apply_filters(row, h.tokens);
      lp = log_softmax(row);
      const int next = sample_token(lp, temperature, rng);
      sums[alive[a]] += lp[next];
      if (next == eot) continue;
      h.tokens.push_back(next);
      if (step + 1 < max_steps) {
        keep.push_back(static_cast<int>(a));
        still.push_back(alive[a]);
      }
    }
    // Finished candidates leave the batch.
    if (!keep.empty() && keep.size() != alive.size()) decoder_.reorder(keep);
    alive = std::move(still);
  }
  decoder_.reorder({0});  // one sequence again, holding the prompt for the next temperature
  for (int i = 0; i < n; ++i) seqs[i].sum_logprob = static_cast<float>(sums[i]);
  return seqs;
}

float WindowDecoder::score_tokens(const std::vector<int>& initial, const std::vector<int>& tokens) {
  const int n_vocab = model_.info.n_vocab;
  reset();
  decoder_.truncate(0);
  std::vector<int> all = initial;
  all.insert(all.end(), tokens.begin(), tokens.end());
  std::vector<int> rows;
  for (size_t i = initial.size() - 1; i < all.size(); ++i) rows.push_back(static_cast<int>(i));
  std::vector<float> logits;
  decoder_.forward(all, rows, logits);
  double sum = 0;
  std::vector<float> row(n_vocab);
  for (size_t i = 0; i <= tokens.size(); ++i) {
    std::copy_n(logits.begin() + i * static_cast<size_t>(n_vocab), n_vocab, row.begin());
    apply_filters(row, std::vector<int>(tokens.begin(), tokens.begin() + i));
    sum += log_softmax(row)[i < tokens.size() ? tokens[i] : tok_.eot()];
  }
  decoder_.truncate(0);
  reset();
  return static_cast<float>(sum);
}

Transcriber::Transcriber(const WhisperModel& model, Backend& backend, const Tokenizer& tokenizer, Timings& timings,
                         int n_threads)
    : model_(model), backend_(backend), tok_(tokenizer), timings_(timings), n_threads_(n_threads),
      decoder_(model, backend) {}

std::string Transcriber::detect_language(const std::vector<float>& mel_window) {
  double t0 = now_ms();
  Mat enc = encode(model_, backend_, mel_window.data());
  timings_.encode_ms += now_ms() - t0;
  decoder_.set_audio(enc);
  std::vector<float> logits;
  decoder_.forward({tok_.sot()}, {0}, logits);
  int best = -1;
  for (int t : tok_.language_tokens())
    if (t < static_cast<int>(logits.size()) && (best < 0 || logits[t] > logits[best])) best = t;
  if (best < 0) throw Error("language detection: the model has no language tokens");
  return tok_.language_code(best);
}

void check_transcribe_options(const TranscribeOptions& opt) {
  if (opt.task != "transcribe" && opt.task != "translate")
    throw Error("--task: \"" + opt.task + "\" is not transcribe or translate");
  if (opt.beam_size < 1) throw Error("--beam-size: " + std::to_string(opt.beam_size) + " (must be 1 or more)");
  if (opt.best_of < 1) throw Error("--best-of: " + std::to_string(opt.best_of) + " (must be 1 or more)");
  if (!(opt.patience > 0)) throw Error("--patience: " + std::to_string(opt.patience) + " (must be above 0)");
}

bool needs_fallback(const WindowResult& res, const TranscribeOptions& opt) {
  bool fallback = false;
  if (opt.compression_ratio_threshold > 0 && res.compression_ratio > opt.compression_ratio_threshold) fallback = true;
  if (res.avg_logprob < opt.logprob_threshold) fallback = true;
  if (res.no_speech_prob > opt.no_speech_threshold && res.avg_logprob < opt.logprob_threshold) fallback = false;
  return fallback;
}

Transcription Transcriber::start(const std::vector<float>& pcm, const TranscribeOptions& opt) {
  const ModelInfo& h = model_.info;
  const int n_frames_window = 2 * h.n_audio_ctx;  // 3000
  if (pcm.empty()) throw Error("audio: empty (0 samples)");

  // The log-mel of the whole audio plus 30 s of silence, normalised once (as openai-whisper's transcribe()).
  Transcription t;
  double t0 = now_ms();
  t.mel = log_mel_spectrogram(pcm.data(), pcm.size(), h.n_mels, kSamples30s, n_threads_, &t.n_frames);
  timings_.mel_ms += now_ms() - t0;
  t.content_frames = t.n_frames - n_frames_window;

  std::string language = opt.language;
  if (!h.multilingual) {
    if (!language.empty() && language != "en")
      throw Error("--language " + language + ": this model is English-only");
    language = "en";
  } else if (language.empty()) {
    // Detected on the first 30 s of the padded mel (silence included, not zeros), as openai-whisper does.
    language = detect_language(mel_window(t.mel, h.n_mels, t.n_frames, 0, n_frames_window, n_frames_window));
  } else if (tok_.language_token(language) < 0) {
    throw Error("--language: unknown language code \"" + language + "\"");
  }
  t.out.language = language;
  if (!h.multilingual && opt.task == "translate") throw Error("--task translate: this model is English-only");
  t.sot_seq = tok_.sot_sequence(language, opt.task);
  t.rng.seed(opt.seed);
  const std::string prompt = strip(opt.initial_prompt);
  if (!prompt.empty()) t.all_tokens = tok_.encode(std::string(" ").append(prompt));
  t.n_initial_prompt = t.all_tokens.size();
  return t;
}

int Transcriber::window_frames(const Transcription& t) const {
  return std::min(2 * model_.info.n_audio_ctx, t.content_frames - t.seek);
}

Mat Transcriber::encode_window(const Transcription& t) {
  const ModelInfo& h = model_.info;
  const int n_frames_window = 2 * h.n_audio_ctx;
  double te = now_ms();
  std::vector<float> mw = mel_window(t.mel, h.n_mels, t.n_frames, t.seek, window_frames(t), n_frames_window);
  Mat enc = encode(model_, backend_, mw.data());
  timings_.encode_ms += now_ms() - te;
  ++timings_.n_windows;
  return enc;
}

std::vector<int> Transcriber::window_prompt(const Transcription& t, const TranscribeOptions& opt) const {
  // Previous text (at most n_text_ctx / 2 - 1 tokens) after <|startofprev|>, then the sot sequence.
  std::vector<int> initial;
  if (t.all_tokens.size() > t.prompt_reset_since) {
    const size_t max_prompt = model_.info.n_text_ctx / 2 - 1;
    size_t from = std::max(t.prompt_reset_since, t.all_tokens.size() > max_prompt ? t.all_tokens.size() - max_prompt : 0);
    initial.push_back(tok_.sot_prev());
    initial.insert(initial.end(), t.all_tokens.begin() + from, t.all_tokens.end());
  }
  initial.insert(initial.end(), t.sot_seq.begin(), t.sot_seq.end());
  if (opt.without_timestamps) initial.push_back(tok_.no_timestamps());
  return initial;
}

WindowResult Transcriber::decode_with_fallback(WindowDecoder& wd, const std::vector<int>& initial, std::mt19937_64& rng,
                                               const TranscribeOptions& opt, size_t from, WindowResult res) {
  for (size_t i = from; i < opt.temperatures.size(); ++i) {
    res = wd.decode(initial, opt.temperatures[i], rng);
    timings_.n_decoded_tokens += static_cast<int>(res.tokens.size()) + 1;
    if (!needs_fallback(res, opt)) break;
  }
  return res;
}

void Transcriber::add_window(Transcription& t, const WindowResult& res, const TranscribeOptions& opt) const {
  const int segment_size = window_frames(t);
  // Silence: skip the window when no speech is likely and the text is improbable.
  if (res.no_speech_prob > opt.no_speech_threshold && !(res.avg_logprob > opt.logprob_threshold)) {
    t.seek += segment_size;
    return;
  }
  const int ts_begin = tok_.timestamp_begin();
  const double time_precision = 0.02;  // seconds per timestamp step
  const int input_stride = 2;          // mel frames per encoder position (3000 / n_audio_ctx)
  const double time_offset = static_cast<double>(t.seek) * kHopLength / kSampleRate;
  const double segment_duration = static_cast<double>(segment_size) * kHopLength / kSampleRate;

  const std::vector<int>& tokens = res.tokens;
  const int previous_seek = t.seek;
  struct Piece { double start, end; std::vector<int> tokens; };
  std::vector<Piece> pieces;
  const size_t nt = tokens.size();
  const bool single_ts_ending = nt >= 2 && tokens[nt - 2] < ts_begin && tokens[nt - 1] >= ts_begin;
  std::vector<size_t> consecutive;  // i where tokens[i-1] and tokens[i] are both timestamps
  for (size_t i = 1; i < nt; ++i)
    if (tokens[i] >= ts_begin && tokens[i - 1] >= ts_begin) consecutive.push_back(i);
  if (!consecutive.empty()) {
    std::vector<size_t> slices = consecutive;
    if (single_ts_ending) slices.push_back(nt);
    size_t last = 0;
    for (size_t cur : slices) {
      std::vector<int> st(tokens.begin() + last, tokens.begin() + cur);
      pieces.push_back({time_offset + (st.front() - ts_begin) * time_precision,
                        time_offset + (st.back() - ts_begin) * time_precision, st});
      last = cur;
    }
    if (single_ts_ending)
      t.seek += segment_size;  // no speech after the last timestamp
    else
      t.seek += (tokens[last - 1] - ts_begin) * input_stride;  // resume at the last complete timestamp
  } else {
    double duration = segment_duration;
    int last_ts = -1;
    for (int tk : tokens)
      if (tk >= ts_begin) last_ts = tk;
    if (last_ts >= 0 && last_ts != ts_begin) duration = (last_ts - ts_begin) * time_precision;
    pieces.push_back({time_offset, time_offset + duration, tokens});
    t.seek += segment_size;
  }

  for (auto& p : pieces) {
    std::string text = tok_.decode(p.tokens);
    // Instantaneous or empty segments are dropped (openai-whisper clears them, faster-whisper drops them).
    if (p.start == p.end || strip(text).empty()) continue;
    Segment s;
    s.id = static_cast<int>(t.out.segments.size());
    s.seek = previous_seek;
    s.start_s = p.start;
    s.end_s = p.end;
    s.text = text;
    s.tokens = p.tokens;
    s.temperature = res.temperature;
    s.avg_logprob = res.avg_logprob;
    s.compression_ratio = res.compression_ratio;
    s.no_speech_prob = res.no_speech_prob;
    t.all_tokens.insert(t.all_tokens.end(), p.tokens.begin(), p.tokens.end());
    t.out.segments.push_back(std::move(s));
  }
  if (!opt.condition_on_previous_text || res.temperature > opt.prompt_reset_on_temperature)
    t.prompt_reset_since = t.all_tokens.size();
}

Transcript Transcriber::finish(Transcription& t) const {
  t.out.text = tok_.decode(std::vector<int>(t.all_tokens.begin() + t.n_initial_prompt, t.all_tokens.end()));
  return std::move(t.out);
}

Transcript Transcriber::run(const std::vector<float>& pcm, const TranscribeOptions& opt) {
  check_transcribe_options(opt);
  Transcription t = start(pcm, opt);
  WindowDecoder wd(model_, tok_, decoder_, opt);
  wd.set_timings(&timings_);
  while (!t.done()) {
    decoder_.set_audio(encode_window(t));
    wd.reset();
    const std::vector<int> initial = window_prompt(t, opt);
    // Temperature fallback, as openai-whisper's decode_with_fallback.
    double td = now_ms();
    const WindowResult res = decode_with_fallback(wd, initial, t.rng, opt, 0, {});
    timings_.decode_ms += now_ms() - td;
    add_window(t, res, opt);
  }
  return finish(t);
}

}  // namespace wst::engine
