// The transformers and MLX writers and readers on the real tiny.en weights:
//  - CTranslate2 -> read_ct2 -> prepare_for_writing -> our writer -> the real peer (transformers 4.49's
//    WhisperForConditionalGeneration + WhisperProcessor + pipeline; mlx_whisper.transcribe) transcribes jfk.wav
//    to faster-whisper's words (tests/reference/faster_whisper_tiny_en.json);
//  - the Python reference converters' output (tests/reference/ct2_to_{hf,mlx}_whisper.py, written with the
//    safetensors package and numpy) read by our readers equals read_ct2's tensors.
// The peers run in the Python the bridges find (impls/bridges.h); a peer that is missing skips, or fails under
// WST_REQUIRE_PEERS as in tests/impls/bridges_test.cpp.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "formats/weight_io.h"
#include "impls/bridges.h"
#include "impls/python_bridge.h"
#include "models/convert.h"
#include "models/tokenizer_source.h"
#include "support/paths.h"
#include "support/words.h"
#include "support/temp_dir.h"

namespace wst::formats {
namespace {

bool peer_required(const std::string& id) {
  const char* r = std::getenv("WST_REQUIRE_PEERS");
  if (!r || !*r) return false;
  std::string list = std::string(",") + r + ",";
  return list == ",1," || list.find("," + id + ",") != std::string::npos;
}

// The interpreter that runs `impl`'s peer; skips (or fails under WST_REQUIRE_PEERS) when it cannot run here.
#define WST_PYTHON_OF_PEER(impl, out)                                                            \
  do {                                                                                           \
    std::string _id = (impl)->describe().id, _why = (impl)->unavailable_reason();                \
    if (!_why.empty()) {                                                                         \
      if (peer_required(_id)) FAIL() << _id << " required (WST_REQUIRE_PEERS): " << _why;        \
      GTEST_SKIP() << _id << " unavailable: " << _why;                                           \
    }                                                                                            \
    out = dynamic_cast<const impls::PythonBridge&>(*(impl)).python();                            \
  } while (0)

// faster-whisper's jfk transcript of tiny.en, from the committed reference.
std::string reference_jfk_text() {
  std::ifstream in(test::source_dir() / "tests/reference/faster_whisper_tiny_en.json");
  nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& f : j["files"])
    if (f["id"] == "jfk") return f["text"].get<std::string>();
  return "";
}

using test::words;

WhisperWeights tiny_en_for_writing() {
  WhisperWeights w = read_ct2(test::tiny_en_dir().string());
  models::prepare_for_writing(w, models::find_tokenizer(w));
  return w;
}

// Runs `code` in `python` with argv[1..] = args; returns stdout (stderr kept apart in `log`).
std::string run_python(const std::string& python, const std::string& code, const std::vector<std::string>& args,
                       const test::TempDir& dir) {
  auto script = dir.write("check.py", code);
  std::string cmd = "HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 " + python + " " + script.string();
  for (const auto& a : args) cmd += " '" + a + "'";
  return test::capture(cmd + " 2>" + (dir / "stderr.txt").string());
}

std::string stderr_of(const test::TempDir& dir) {
  std::ifstream in(dir / "stderr.txt");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

const char* kTransformersCheck = R"(
import sys, wave
import numpy as np
from transformers import WhisperForConditionalGeneration, WhisperProcessor, pipeline
model_dir, wav = sys.argv[1], sys.argv[2]
with wave.open(wav) as w:
    audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
model = WhisperForConditionalGeneration.from_pretrained(model_dir, local_files_only=True)
processor = WhisperProcessor.from_pretrained(model_dir, local_files_only=True)
features = processor(audio, sampling_rate=16000, return_tensors="pt").input_features
ids = model.generate(features)
print("generate:" + processor.batch_decode(ids, skip_special_tokens=True)[0])
asr = pipeline("automatic-speech-recognition", model=model_dir)
print("pipeline:" + asr(audio.copy())["text"])
)";

TEST(HfDirReal, TransformersTranscribesTinyEnWrittenHere) {
  WST_REQUIRE_TINY_EN();
  std::string python;
  auto peer = make_transformers();
  WST_PYTHON_OF_PEER(peer, python);
  test::TempDir dir;
  const auto out = dir / "whisper-tiny.en";
  write_weights(tiny_en_for_writing(), WeightFormat::kSafetensors, out.string());
  const std::string got = run_python(python, kTransformersCheck, {out.string(), (test::shared_audio_dir() / "jfk.wav").string()}, dir);
  const std::string want = words(reference_jfk_text());
  ASSERT_FALSE(want.empty());
  auto line = [&](const std::string& tag) {
    auto at = got.find(tag + ":");
    return at == std::string::npos ? std::string("(none)") : got.substr(at + tag.size() + 1, got.find('\n', at) - at - tag.size() - 1);
  };
  std::cout << got << "\n";
  EXPECT_EQ(words(line("generate")), want) << got << "\n" << stderr_of(dir);
  EXPECT_EQ(words(line("pipeline")), want) << got << "\n" << stderr_of(dir);
}

const char* kMlxCheck = R"(
import sys, wave
import numpy as np
import mlx_whisper
model_dir, wav = sys.argv[1], sys.argv[2]
with wave.open(wav) as w:
    audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
print("text:" + mlx_whisper.transcribe(audio, path_or_hf_repo=model_dir, fp16=False)["text"])
)";

TEST(MlxDirReal, MlxWhisperTranscribesTinyEnWrittenHere) {
  WST_REQUIRE_TINY_EN();
  std::string python;
  auto peer = make_mlx_whisper();
  WST_PYTHON_OF_PEER(peer, python);
  test::TempDir dir;
  const auto out = dir / "whisper-tiny.en-mlx";
  write_weights(tiny_en_for_writing(), WeightFormat::kMlx, out.string());
  const std::string got = run_python(python, kMlxCheck, {out.string(), (test::shared_audio_dir() / "jfk.wav").string()}, dir);
  std::cout << got << "\n";
  ASSERT_EQ(got.rfind("text:", 0), 0u) << got << "\n" << stderr_of(dir);
  EXPECT_EQ(words(got.substr(5)), words(reference_jfk_text()));
}

// Values equal (float16 -> float32 is exact, so a float32 copy of float16 weights compares exactly); the
// first differing element reported.
void expect_same_values(const WhisperWeights& ours, const WhisperWeights& ct2, const std::string& skip = "") {
  ASSERT_EQ(ours.dims, ct2.dims);
  ASSERT_EQ(ours.tensors.size(), ct2.tensors.size());
  for (const auto& [name, t] : ct2.tensors) {
    if (name == skip) continue;
    auto it = ours.tensors.find(name);
    ASSERT_NE(it, ours.tensors.end()) << name;
    ASSERT_EQ(it->second.shape, t.shape) << name;
    const std::vector<float> a = it->second.to_f32(), b = t.to_f32();
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_EQ(a[i], b[i]) << name << " first difference at element " << i;
  }
}

bool convert(const std::string& python, const std::string& script, const std::filesystem::path& out, std::string& log) {
  log = test::capture(python + " " + (test::source_dir() / "tests/reference" / script).string() + " --model-dir '" +
                      test::tiny_en_dir().string() + "' --out '" + out.string() + "' 2>&1");
  return std::filesystem::exists(out);
}

TEST(HfDirReal, ReadsTheReferenceConvertersOutputAsCt2Does) {
  WST_REQUIRE_TINY_EN();
  std::string python;
  auto peer = make_transformers();
  WST_PYTHON_OF_PEER(peer, python);  // the converter needs the safetensors package
  test::TempDir dir;
  const auto out = dir / "hf";
  std::string log;
  ASSERT_TRUE(convert(python, "ct2_to_hf_whisper.py", out, log)) << log;
  WhisperWeights ours = read_weights(out.string());
  EXPECT_EQ(ours.format, "safetensors");
  EXPECT_EQ(ours.tokenizer_json, (out / "tokenizer.json").string());
  expect_same_values(ours, read_ct2(test::tiny_en_dir().string()));
}

TEST(MlxDirReal, ReadsTheReferenceConvertersOutputAsCt2Does) {
  WST_REQUIRE_TINY_EN();
  std::string python;
  auto peer = make_mlx_whisper();
  WST_PYTHON_OF_PEER(peer, python);
  test::TempDir dir;
  const auto out = dir / "mlx";
  std::string log;
  ASSERT_TRUE(convert(python, "ct2_to_mlx_whisper.py", out, log)) << log;
  // The converter writes weights.npz; the safetensors package's own writer turns it into weights.safetensors.
  const std::string npz = (out / "weights.npz").string();
  log = test::capture(python + " -c 'import sys, numpy as np; from safetensors.numpy import save_file; "
                      "save_file(dict(np.load(sys.argv[1])), sys.argv[2])' '" + npz + "' '" +
                      (out / "weights.safetensors").string() + "' 2>&1 && echo ok");
  ASSERT_EQ(log.substr(log.size() >= 2 ? log.size() - 2 : 0), "ok") << log;
  std::filesystem::remove(npz);
  WhisperWeights ours = read_weights(out.string());
  WhisperWeights ct2 = read_ct2(test::tiny_en_dir().string());
  expect_same_values(ours, ct2, "encoder.positional_embedding");
  // The computed positional embedding against the stored one: float32 rounding (see Sinusoids tests).
  const std::vector<float> a = ours.tensors.at("encoder.positional_embedding").to_f32();
  const std::vector<float> b = ct2.tensors.at("encoder.positional_embedding").to_f32();
  ASSERT_EQ(a.size(), b.size());
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(a[i]) - double(b[i])));
  std::cout << "computed vs stored encoder.positional_embedding: max |diff| " << max_diff << "\n";
  EXPECT_LE(max_diff, 2.44e-4 + 1.22e-4);  // float16 storage and torch's exp(); see Sinusoids.MatchTinyEnStoredEncodings
}

}  // namespace
}  // namespace wst::formats
