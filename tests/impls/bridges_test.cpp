// The real peers through their bridges, on jfk.wav with the real tiny.en weights (each in its peer's format).
//
// A peer that is not installed skips, saying exactly why (the bridge's unavailable_reason()); under
// WST_REQUIRE_PEERS=1 (every peer) or WST_REQUIRE_PEERS=faster-whisper,openai-whisper (those named) a missing
// peer fails instead, so that CI cannot pass by skipping the peers it installs.
#include "impls/bridges.h"

#include <gtest/gtest.h>

#include <cctype>
#include <iostream>

#include "audio/decode.h"
#include "bench/text_normalizer.h"
#include "bench/wer.h"
#include "impls/python_bridge.h"
#include "support/paths.h"
#include "support/peers.h"
#include "support/words.h"
#include "support/run_cli.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst {
namespace {

// tiny.en on jfk.wav, greedy, as faster-whisper writes it (tests/reference/faster_whisper_tiny_en.json).
const char* kJfkTinyEn =
    "And so my fellow Americans ask not what your country can do for you ask what you can do for your country";

using test::peer_required;

// Skips (or fails under WST_REQUIRE_PEERS) when the peer cannot run here.
#define WST_REQUIRE_PEER(impl)                                                                       \
  do {                                                                                               \
    std::string _id = (impl)->describe().id, _why = (impl)->unavailable_reason();                    \
    if (!_why.empty()) {                                                                             \
      if (peer_required(_id)) FAIL() << _id << " required (WST_REQUIRE_PEERS) but unavailable: " << _why; \
      GTEST_SKIP() << _id << " unavailable: " << _why;                                               \
    }                                                                                                \
  } while (0)

std::vector<float> jfk() { return audio::load_audio((test::shared_audio_dir() / "jfk.wav").string()); }

std::string python_of(const Implementation& impl) {
  return dynamic_cast<const impls::PythonBridge&>(impl).python();
}

using test::words;

// Converts the tiny.en CTranslate2 weights into `out` (under a temp dir) with `whisper-speedtest models convert`,
// as a user would; returns false with the command's output in `log` on failure.
bool convert_tiny_en(const std::string& to, const std::filesystem::path& out, std::string& log) {
  test::CliResult r = test::run_cli({"models", "convert", test::tiny_en_dir().string(), "--to", to, "-o", out.string()});
  log = r.out + r.err;
  return r.rc == 0 && std::filesystem::exists(out);
}

ImplParams tiny_en(const std::string& path, const std::string& format) {
  ImplParams p;
  p.model_name = "tiny.en";
  p.model_path = path;
  p.model_format = format;
  p.language = "en";
  p.n_threads = 2;
  return p;
}

// Runs the peers cut off from the world: HOME and the cache variables point at an empty temporary
// directory, and the interpreter runs in a new network namespace with no interface up (`unshare -rn`, where
// this machine allows it), through WHISPER_SPEEDTEST_PYTHON. A bridge that downloads fails; one that writes
// into a cache leaves files in `home`. Restores the environment when it goes.
class Isolation {
 public:
  explicit Isolation(const std::string& python) {
    network_cut_ = test::capture("unshare -rn true && echo yes") == "yes";
    auto wrapper = dir_.write("python", "#!/bin/sh\nexec " + std::string(network_cut_ ? "unshare -rn " : "") +
                                            python + " \"$@\"\n");
    std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
    std::filesystem::create_directories(home());
    set("WHISPER_SPEEDTEST_PYTHON", wrapper.string());
    set("HOME", home().string());
    for (const char* v : {"XDG_CACHE_HOME", "HF_HOME", "TORCH_HOME", "HUGGINGFACE_HUB_CACHE"})
      set(v, (home() / ".cache").string());
  }
  ~Isolation() {
    for (auto& [name, old] : saved_)
      if (old.first)
        ::setenv(name.c_str(), old.second.c_str(), 1);
      else
        ::unsetenv(name.c_str());
  }
  std::filesystem::path home() const { return dir_ / "home"; }
  bool network_cut() const { return network_cut_; }
  // Every file or directory that appeared under home().
  std::vector<std::string> written() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(home())) out.push_back(e.path().string());
    return out;
  }

 private:
  void set(const std::string& name, const std::string& value) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, std::make_pair(old != nullptr, old ? std::string(old) : std::string()));
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  test::TempDir dir_;
  bool network_cut_ = false;
  std::vector<std::pair<std::string, std::pair<bool, std::string>>> saved_;
};

// The isolation itself: with it, the interpreter cannot open a connection, and HOME is the empty directory.
TEST(BridgeIsolation, CutsTheNetworkAndMovesHome) {
  Isolation iso(test::python());
  if (!iso.network_cut()) GTEST_SKIP() << "unshare -rn is not allowed on this machine";
  std::string out = test::capture(
      std::string(std::getenv("WHISPER_SPEEDTEST_PYTHON")) +
      " -c 'import os, socket\ntry:\n    socket.create_connection((\"1.1.1.1\", 80), timeout=5); print(\"connected\")\n"
      "except OSError as e:\n    print(\"no network:\", e.errno)\nprint(os.path.expanduser(\"~\"))'");
  EXPECT_EQ(out.substr(0, 11), "no network:") << out;
  EXPECT_NE(out.find(iso.home().string()), std::string::npos) << out;
}

using Factory = std::unique_ptr<Implementation> (*)();

// Makes the peer afresh under Isolation (with the interpreter `python` found by an earlier probe), loads,
// transcribes jfk (twice with `twice`, checking that the same runner answers with the model loaded once),
// checks the text and what the bridge reports, checks that nothing was written under HOME, and returns the
// used parameters. The slow peers transcribe once: the reuse is the bridge's, pinned by faster-whisper and
// python_bridge_test.cpp.
ImplUsed expect_jfk(Factory factory, const std::string& python, const ImplParams& params,
                   const std::string& expected_text, bool words_only = false, bool twice = false) {
  Isolation iso(python);
  auto impl = factory();
  if (auto why = impl->unavailable_reason(); !why.empty()) {
    ADD_FAILURE() << "unavailable in isolation: " << why;
    return {};
  }
  impl->load(params);
  auto& bridge = dynamic_cast<impls::PythonBridge&>(*impl);
  pid_t pid = bridge.runner_pid();
  auto pcm = jfk();
  ImplTranscript t1 = impl->transcribe(pcm);
  ImplTranscript t2 = twice ? impl->transcribe(pcm) : t1;
  if (words_only)
    EXPECT_EQ(words(t1.text), words(expected_text)) << t1.text;
  else
    EXPECT_EQ(t1.text, expected_text);
  EXPECT_EQ(t2.text, t1.text);
  EXPECT_EQ(t1.language, "en");
  EXPECT_GT(t1.internal_ms, 0.0);
  EXPECT_EQ(bridge.runner_pid(), pid) << "the same runner must serve every request";
  EXPECT_GT(bridge.runner_peak_rss_kb(), 0);
  ImplUsed u = impl->used();
  EXPECT_EQ(u.model_file, params.model_path);
  EXPECT_EQ(u.format, params.model_format);
  EXPECT_EQ(u.device, "cpu");
  EXPECT_FALSE(u.version.empty());
  impl->cleanup();
  EXPECT_EQ(bridge.runner_pid(), -1);
  auto written = iso.written();
  EXPECT_TRUE(written.empty()) << impl->describe().id << " wrote under HOME or a cache: " << written.front();
  if (!iso.network_cut()) std::cout << "note: unshare -rn is not allowed here; the network was not cut\n";
  return u;
}

TEST(FasterWhisper, TranscribesJfkFloat32) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_faster_whisper();
  WST_REQUIRE_PEER(impl);
  ImplUsed u = expect_jfk(make_faster_whisper, python_of(*impl),
                          tiny_en(test::tiny_en_dir().string(), "ctranslate2"), kJfkTinyEn,
                          /*words_only=*/false, /*twice=*/true);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_EQ(u.n_threads, 2);
  EXPECT_NE(u.version.find("ctranslate2"), std::string::npos) << u.version;
}

TEST(FasterWhisper, TranscribesJfkInt8) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_faster_whisper_int8();
  WST_REQUIRE_PEER(impl);
  // int8 weights give the same greedy tokens on this clip (checked with faster-whisper 1.2.1).
  ImplUsed u = expect_jfk(make_faster_whisper_int8, python_of(*impl),
                          tiny_en(test::tiny_en_dir().string(), "ctranslate2"), kJfkTinyEn);
  // CTranslate2 runs int8 weights with float32 activations on CPU: "int8_float32".
  EXPECT_EQ(u.precision.rfind("int8", 0), 0u) << u.precision;
}

TEST(FasterWhisper, BatchedPipelineTranscribesJfk) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_faster_whisper_batched();
  WST_REQUIRE_PEER(impl);
  // Without timestamp tokens (the pipeline's way) tiny.en ends jfk with a full stop; the words are the same.
  ImplUsed u = expect_jfk(make_faster_whisper_batched, python_of(*impl),
                          tiny_en(test::tiny_en_dir().string(), "ctranslate2"), kJfkTinyEn,
                          /*words_only=*/true);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_NE(u.version.find("batched by 8"), std::string::npos) << u.version;
}

TEST(FasterWhisper, BadModelPathIsOneLineNamingThePath) {
  auto impl = make_faster_whisper();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  const std::string missing = (dir / "no such model").string();
  try {
    impl->load(tiny_en(missing, "ctranslate2"));
    FAIL() << "loading a missing model must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "faster-whisper: " + missing + ": model not found");
  }
  // A directory that is not a CTranslate2 model.
  try {
    impl->load(tiny_en(dir.path().string(), "ctranslate2"));
    FAIL() << "loading a directory without model.bin must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "faster-whisper: " + dir.path().string() + ": not a CTranslate2 model directory (no model.bin)");
  }
}

// An interpreter without faster_whisper (python3 -S has no site-packages) makes the peer unavailable with
// the import error and the install command, instead of failing later or pretending.
TEST(FasterWhisper, UnavailableWhereThePythonLacksItSayingWhy) {
  test::TempDir dir;
  auto wrapper = dir.write("python-without-site", "#!/bin/sh\nexec " + test::python() + " -S \"$@\"\n");
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  ::setenv("WHISPER_SPEEDTEST_PYTHON", wrapper.c_str(), 1);
  auto impl = make_faster_whisper();
  std::string why = impl->unavailable_reason();
  ::unsetenv("WHISPER_SPEEDTEST_PYTHON");
  EXPECT_EQ(why, "not installed for any Python tried (" + wrapper.string() +
                     ": faster_whisper cannot be imported: No module named 'faster_whisper'); "
                     "install with: pip install faster-whisper");
}

TEST(OpenaiWhisper, TranscribesJfk) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_openai_whisper();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto pt = dir / "tiny.en.pt";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("pt", pt, log)) << log;
  ImplUsed u = expect_jfk(make_openai_whisper, python_of(*impl), tiny_en(pt.string(), "openai"), kJfkTinyEn);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_EQ(u.n_threads, 2);
  EXPECT_NE(u.version.find("torch"), std::string::npos) << u.version;
}

TEST(OpenaiWhisper, BadModelPathIsOneLineNamingThePath) {
  auto impl = make_openai_whisper();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  try {
    impl->load(tiny_en(dir.path().string(), "openai"));
    FAIL() << "loading a directory as a checkpoint must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "openai-whisper: " + dir.path().string() + ": expected a model file, found a directory");
  }
}

TEST(WhisperCpp, TranscribesJfk) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_whisper_cpp();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto ggml = dir / "ggml-tiny.en.bin";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("ggml", ggml, log)) << log;
  // whisper.cpp's jfk differs from faster-whisper's in punctuation only (a final full stop).
  ImplUsed u = expect_jfk(make_whisper_cpp, python_of(*impl), tiny_en(ggml.string(), "ggml"), kJfkTinyEn,
                          /*words_only=*/true);
  EXPECT_EQ(u.precision, "float16");
  EXPECT_EQ(u.n_threads, 2);
}

// Each transcription starts afresh, as the benchmark's runs must: whisper.cpp keeps the last call's text as
// the next call's prompt unless told not to (no_context), and then the second run of the bundled espeak clip
// hallucinated ("The way you can see the way you can see the same audio.") or came back empty. Also: no
// language asked (the benchmark's default) on an English-only model is English, as for every other peer.
TEST(WhisperCpp, RunsAreIndependentAndEnglishWithoutALanguage) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_whisper_cpp();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto ggml = dir / "ggml-tiny.en.bin";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("ggml", ggml, log)) << log;
  ImplParams p = tiny_en(ggml.string(), "ggml");
  p.language = "";
  impl->load(p);
  auto clip = audio::load_audio((test::source_dir() / "data/samples/sample.wav").string());
  const std::string reference = test::slurp(test::source_dir() / "data/samples/sample.txt");
  ImplTranscript first = impl->transcribe(clip);
  for (int run = 2; run <= 3; ++run) {
    ImplTranscript t = impl->transcribe(clip);
    EXPECT_EQ(t.text, first.text) << "run " << run;
    EXPECT_LT(bench::word_errors(bench::normalize_english(reference), bench::normalize_english(t.text)).wer(), 0.10)
        << "run " << run << ": " << t.text;
    EXPECT_EQ(t.language, "en");
  }
  impl->cleanup();
}

TEST(WhisperCpp, NotAGgmlFileIsOneLineNamingThePath) {
  auto impl = make_whisper_cpp();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto bogus = dir.write("model.bin", "PK\x03\x04 not ggml");
  try {
    impl->load(tiny_en(bogus.string(), "ggml"));
    FAIL() << "loading a non-ggml file must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("whisper.cpp: " + bogus.string() + ": not a ggml model file", 0), 0u)
        << e.what();
  }
}

TEST(Transformers, TranscribesJfk) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_transformers();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto hf = dir / "whisper-tiny.en";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("safetensors", hf, log)) << log;
  // transformers ends jfk with a full stop; the words are faster-whisper's.
  ImplUsed u = expect_jfk(make_transformers, python_of(*impl), tiny_en(hf.string(), "safetensors"), kJfkTinyEn,
                          /*words_only=*/true);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_EQ(u.n_threads, 2);
  EXPECT_NE(u.version.find("attention "), std::string::npos) << u.version;
}

// The GPU row of the same peer: on a machine without a GPU (CI) torch says so, and the row is skipped with that
// reason rather than reported as not installed; where torch sees a GPU the row is available.
TEST(Transformers, CudaRowSaysWhyWithoutAGpu) {
  auto impl = make_transformers();
  WST_REQUIRE_PEER(impl);
  auto cuda = make_transformers_cuda();
  EXPECT_EQ(cuda->describe().device, "cuda");
  const std::string why = cuda->unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "torch sees a CUDA device here: the row is available";
  EXPECT_NE(why.find("sees no CUDA device"), std::string::npos) << why;
  EXPECT_EQ(why.find("install"), std::string::npos) << why;
}

// A multilingual model with a language asked: the prompt is <|startoftranscript|><|en|><|transcribe|>, and
// transformers 4.49's no-speech test then calls forward() with `input_ids`, which it does not take ("forward()
// got an unexpected keyword argument 'input_ids'", every window); the runner renames the key. English-only
// models never reach that call (one-token prompt), so tiny.en cannot show it.
TEST(Transformers, TranscribesJfkWithTheMultilingualBaseAndALanguage) {
  WST_REQUIRE_BASE();
  auto impl = make_transformers();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto hf = dir / "whisper-base";
  test::CliResult r =
      test::run_cli({"models", "convert", test::base_dir().string(), "--to", "safetensors", "-o", hf.string()});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  ImplParams p = tiny_en(hf.string(), "safetensors");
  p.model_name = "base";
  // base on jfk: the words of faster-whisper's tiny.en transcript (tests/reference/faster_whisper_base.json).
  ImplUsed u = expect_jfk(make_transformers, python_of(*impl), p, kJfkTinyEn, /*words_only=*/true);
  EXPECT_EQ(u.precision, "float32");
}

TEST(Transformers, NotAModelDirectoryIsOneLineNamingThePath) {
  auto impl = make_transformers();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  try {
    impl->load(tiny_en(dir.path().string(), "safetensors"));
    FAIL() << "loading an empty directory must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "transformers: " + dir.path().string() + ": not a transformers Whisper directory (no config.json)");
  }
}

TEST(MlxWhisper, TranscribesJfk) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_mlx_whisper();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto mlx = dir / "whisper-tiny.en-mlx";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("mlx", mlx, log)) << log;
  ImplUsed u = expect_jfk(make_mlx_whisper, python_of(*impl), tiny_en(mlx.string(), "mlx"), kJfkTinyEn);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_EQ(u.n_threads, 0) << "MLX has no thread setting; the bridge must not claim one";
  EXPECT_NE(u.version.find("mlx "), std::string::npos) << u.version;
}

TEST(MlxWhisper, MissingModelIsNotDownloaded) {
  auto impl = make_mlx_whisper();
  WST_REQUIRE_PEER(impl);
  // mlx-whisper treats a path that does not exist as a Hugging Face repo id and downloads it; the runner
  // must stop at the path instead.
  try {
    impl->load(tiny_en("mlx-community/whisper-tiny.en-mlx", "mlx"));
    FAIL() << "a repo id is not a model path";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "mlx-whisper: mlx-community/whisper-tiny.en-mlx: model not found");
  }
}

// whisper-mps's own loader takes only model names and downloads OpenAI's checkpoints into ~/.cache/whisper
// (the original Apple tool's bridge fetched every model twice this way); the bridge gives it our file instead,
// and expect_jfk() runs it with an empty HOME and no network, and checks that nothing appeared there.
TEST(WhisperMps, TranscribesJfkFromTheGivenCheckpointWithoutDownloading) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_whisper_mps();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto pt = dir / "tiny.en.pt";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("pt", pt, log)) << log;
  ImplUsed u = expect_jfk(make_whisper_mps, python_of(*impl), tiny_en(pt.string(), "openai"), kJfkTinyEn,
                          /*words_only=*/true);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_EQ(u.n_threads, 0);
}

// lightning-whisper-mlx's own front door (LightningWhisperMLX) takes only names and downloads them from the Hub
// into ./mlx_models; the runner loads the given directory into the library's classes instead, and expect_jfk()
// runs it with an empty HOME and no network. It reads the weights.safetensors that `models convert` writes
// (the library's loader would want weights.npz).
TEST(LightningWhisperMlx, TranscribesJfkFromTheGivenDirectoryWithoutDownloading) {
  WST_REQUIRE_TINY_EN();
  auto impl = make_lightning_whisper_mlx();
  WST_REQUIRE_PEER(impl);
  test::TempDir dir;
  auto mlx = dir / "whisper-tiny.en-mlx";
  std::string log;
  ASSERT_TRUE(convert_tiny_en("mlx", mlx, log)) << log;
  ASSERT_TRUE(std::filesystem::exists(mlx / "weights.safetensors"));
  ImplUsed u = expect_jfk(make_lightning_whisper_mlx, python_of(*impl), tiny_en(mlx.string(), "mlx"), kJfkTinyEn);
  EXPECT_EQ(u.precision, "float32");
  EXPECT_EQ(u.n_threads, 0) << "MLX has no thread setting; the bridge must not claim one";
  EXPECT_NE(u.version.find("batched by 12"), std::string::npos) << u.version;
}

TEST(LightningWhisperMlx, MissingModelIsNotDownloadedAndBeamSearchIsRefused) {
  auto impl = make_lightning_whisper_mlx();
  WST_REQUIRE_PEER(impl);
  try {
    impl->load(tiny_en("mlx-community/whisper-tiny", "mlx"));
    FAIL() << "a repo id is not a model path";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "lightning-whisper-mlx: mlx-community/whisper-tiny: model not found");
  }
  test::TempDir dir;
  dir.write("config.json", "{}");
  dir.write("weights.npz", "");
  ImplParams p = tiny_en(dir.path().string(), "mlx");
  p.beam_size = 5;
  try {
    impl->load(p);
    FAIL() << "beam search must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "lightning-whisper-mlx: lightning-whisper-mlx has no beam search: use beam_size 1");
  }
}

}  // namespace
}  // namespace wst
