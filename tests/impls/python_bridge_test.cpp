// The bridge machinery on its own, with small runners written by the tests: a runner that crashes mid-request,
// one that hangs, an interpreter that does not exist, a peer that cannot be imported, a peer that prints on
// stdout, and a runner that answers garbage. The real peers are tested in bridges_test.cpp.
#include "impls/python_bridge.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "support/env_guard.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/errors.h"

namespace wst::impls {
namespace {

// A runner that speaks just enough of the protocol by hand; `on_transcribe` is the Python run for
// "transcribe" (with `sys`, `os`, `time` and `send` in scope).
std::string hand_runner(const std::string& on_transcribe) {
  return R"(import json, os, sys, time
def send(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line)
    op = m["op"]
    if op == "info":
        send({"ok": True, "protocol": 1, "peer": "fake", "available": True, "version": "0", "reason": ""})
    elif op == "load":
        send({"ok": True, "load_ms": 1.0, "used": {"model_file": m["model_path"], "format": "fake",
              "precision": "float32", "device": "cpu", "n_threads": 1, "version": "0"}})
    elif op == "transcribe":
)" + on_transcribe + R"(
    elif op == "quit":
        send({"ok": True}); break
)";
}

BridgeSpec fake_spec(const std::filesystem::path& runner) {
  BridgeSpec s;
  s.id = "fake-peer";
  s.name = "fake";
  s.formats = {"fake"};
  s.runner = runner.string();
  s.install = "pip install fake-peer";
  s.python = test::python();
  s.info_timeout_ms = 30000;
  s.load_timeout_ms = 30000;
  s.transcribe_timeout_ms = 30000;
  return s;
}

ImplParams fake_params() {
  ImplParams p;
  p.model_path = "/models/fake";
  p.model_format = "fake";
  return p;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

TEST(PythonBridge, CrashingRunnerIsReportedWithItsExitStatusAndStderr) {
  test::TempDir dir;
  auto runner = dir.write("crash.py", hand_runner(
      "        sys.stderr.write('RuntimeError: simulated crash in the peer\\n'); sys.stderr.flush(); os._exit(3)"));
  PythonBridge b(fake_spec(runner));
  ASSERT_EQ(b.unavailable_reason(), "");
  b.load(fake_params());
  EXPECT_EQ(b.used().model_file, "/models/fake");
  pid_t pid = b.runner_pid();
  ASSERT_GT(pid, 0);
  try {
    b.transcribe(std::vector<float>(1600, 0.0f));
    FAIL() << "a crashing runner must throw";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("fake-peer: the runner exited with status 3 during 'transcribe'"), std::string::npos) << m;
    EXPECT_NE(m.find("RuntimeError: simulated crash in the peer"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
  }
  EXPECT_FALSE(process_exists(pid)) << "the dead runner must be reaped";
  EXPECT_THROW(b.transcribe(std::vector<float>(16, 0.0f)), Error) << "no model after the crash";
}

TEST(PythonBridge, HangingRunnerIsKilledAfterTheTimeout) {
  test::TempDir dir;
  auto runner = dir.write("hang.py", hand_runner("        sys.stderr.write('decoding...\\n'); time.sleep(3600)"));
  auto spec = fake_spec(runner);
  spec.transcribe_timeout_ms = 1500;
  PythonBridge b(spec);
  ASSERT_EQ(b.unavailable_reason(), "");
  b.load(fake_params());
  pid_t pid = b.runner_pid();
  try {
    b.transcribe(std::vector<float>(1600, 0.0f));
    FAIL() << "a hanging runner must throw";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("fake-peer: the runner gave no answer to 'transcribe' within 1.5 s and was killed"),
              std::string::npos) << m;
    EXPECT_NE(m.find("(last stderr line: decoding...)"), std::string::npos) << m;
  }
  EXPECT_FALSE(process_exists(pid)) << "the hanging runner must be killed and reaped";
}

TEST(PythonBridge, MissingInterpreterIsUnavailableSayingWhich) {
  test::TempDir dir;
  auto spec = fake_spec(dir.write("ok.py", hand_runner("        pass")));
  spec.python = (dir / "no-such-python3").string();
  PythonBridge b(spec);
  std::string why = b.unavailable_reason();
  EXPECT_NE(why.find(spec.python + ": cannot start"), std::string::npos) << why;
  EXPECT_NE(why.find("No such file or directory"), std::string::npos) << why;
  EXPECT_NE(why.find("install with: pip install fake-peer"), std::string::npos) << why;
  try {
    b.load(fake_params());
    FAIL() << "load of an unavailable peer must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("fake-peer: unavailable: ", 0), 0u) << e.what();
  }
}

TEST(PythonBridge, RunnerNotFoundIsUnavailableNamingThePath) {
  test::TempDir dir;
  PythonBridge b(fake_spec(dir / "runner_nothing.py"));
  EXPECT_EQ(b.unavailable_reason(), (dir / "runner_nothing.py").string() + ": runner not found");
}

// A Python string literal (a JSON string is one).
std::string nlohmann_quote(const std::string& s) { return nlohmann::json(s).dump(); }

// protocol.py itself: a peer that cannot be imported is reported with the import error, and what a peer
// prints on stdout does not break the protocol.
std::string protocol_runner(const std::string& body) {
  return "import sys\nsys.path.insert(0, " + nlohmann_quote(runner_dir().string()) + ")\nimport protocol\n" + body +
         "\nprotocol.main(P())\n";
}

TEST(PythonBridge, PeerThatCannotBeImportedIsUnavailableWithTheImportError) {
  ASSERT_FALSE(runner_dir().empty());
  test::TempDir dir;
  auto runner = dir.write("missing.py", protocol_runner(R"(
class P(protocol.Peer):
    name = "fake-peer"
    def import_peer(self):
        try:
            import wst_no_such_module_xyz
        except ImportError as e:
            raise protocol.PeerMissing(f"wst_no_such_module_xyz cannot be imported: {e}")
)"));
  PythonBridge b(fake_spec(runner));
  std::string why = b.unavailable_reason();
  EXPECT_NE(why.find(test::python() + ": wst_no_such_module_xyz cannot be imported: No module named "
                     "'wst_no_such_module_xyz'"), std::string::npos) << why;
  EXPECT_NE(why.find("install with: pip install fake-peer"), std::string::npos) << why;
}

TEST(PythonBridge, PeerOutputOnStdoutDoesNotBreakTheProtocol) {
  ASSERT_FALSE(runner_dir().empty());
  test::TempDir dir;
  auto runner = dir.write("noisy.py", protocol_runner(R"(
import os
class P(protocol.Peer):
    name = "fake-peer"
    def import_peer(self):
        print("importing noisily"); os.write(1, b"raw fd 1 noise\n")
        return "9.9"
    def load(self, req):
        print("loading", req.model_path)
        self.n = 0
        return {"model_file": req.model_path, "format": "fake", "precision": "float32", "device": req.device,
                "n_threads": req.threads(), "version": "9.9"}
    def transcribe(self, audio):
        print("transcribing")
        self.n += 1
        return f"{audio.size} samples, peak {audio.max():.2f}, call {self.n}, pid {os.getpid()}", "en"
)"));
  PythonBridge b(fake_spec(runner));
  ASSERT_EQ(b.unavailable_reason(), "");
  auto params = fake_params();
  params.n_threads = 3;
  b.load(params);
  EXPECT_EQ(b.used().version, "9.9");
  EXPECT_EQ(b.used().n_threads, 3);
  std::vector<float> pcm(16000, 0.0f);
  pcm[5] = 0.5f;
  std::string pid = std::to_string(b.runner_pid());
  auto t1 = b.transcribe(pcm);
  auto t2 = b.transcribe(pcm);
  // The same runner, with its loaded state, answers every request.
  EXPECT_EQ(t1.text, "16000 samples, peak 0.50, call 1, pid " + pid);
  EXPECT_EQ(t2.text, "16000 samples, peak 0.50, call 2, pid " + pid);
  EXPECT_EQ(t1.language, "en");
  EXPECT_GE(t1.internal_ms, 0.0);
  EXPECT_EQ(b.peak_gpu_bytes(), -1) << "a peer on the CPU reports no GPU memory";
  b.cleanup();
  EXPECT_EQ(b.runner_pid(), -1);
}

// Peak GPU memory travels in the load and transcribe answers, read through protocol.torch_peak_gpu_bytes
// from a stand-in for torch whose allocator peak grows on load and on the first transcription only; the
// bridge keeps the largest figure, and a peer asked for the CPU sends none.
TEST(PythonBridge, PeakGpuMemoryTravelsInTheAnswers) {
  ASSERT_FALSE(runner_dir().empty());
  test::TempDir dir;
  auto runner = dir.write("gpu.py", protocol_runner(R"(
class FakeCuda:
    peak = 0
    @staticmethod
    def is_available():
        return True
    @staticmethod
    def max_memory_reserved(device):
        assert device == "dev:cuda:1", device
        return FakeCuda.peak
class FakeTorch:
    cuda = FakeCuda
    @staticmethod
    def device(name):
        return "dev:" + name
class P(protocol.Peer):
    name = "fake-peer"
    def import_peer(self):
        return "1"
    def load(self, req):
        self.req, self.n = req, 0
        FakeCuda.peak = 300 << 20
        return {"model_file": req.model_path, "format": "fake", "precision": "float16", "device": req.device,
                "n_threads": 1, "version": "1"}
    def transcribe(self, audio):
        self.n += 1
        if self.n == 1:
            FakeCuda.peak = 700 << 20
        return "ok", "en"
    def peak_gpu_bytes(self):
        return protocol.torch_peak_gpu_bytes(FakeTorch, self.req.device)
)"));
  PythonBridge b(fake_spec(runner));
  ImplParams p = fake_params();
  p.device = "cuda:1";
  b.load(p);
  EXPECT_EQ(b.peak_gpu_bytes(), 300ll << 20);
  b.transcribe(std::vector<float>(10, 0.0f));
  EXPECT_EQ(b.peak_gpu_bytes(), 700ll << 20);
  b.transcribe(std::vector<float>(10, 0.0f));
  EXPECT_EQ(b.peak_gpu_bytes(), 700ll << 20);
  b.cleanup();
  EXPECT_EQ(b.peak_gpu_bytes(), 700ll << 20) << "kept after cleanup for the benchmark's report";
  // The same peer on the CPU: protocol.torch_peak_gpu_bytes answers None and the key stays out.
  PythonBridge cpu(fake_spec(runner));
  cpu.load(fake_params());
  cpu.transcribe(std::vector<float>(10, 0.0f));
  EXPECT_EQ(cpu.peak_gpu_bytes(), -1);
}

// A row bound to the GPU (BridgeSpec::device "cuda", as transformers-cuda): "info" asks whether the peer can
// run there; an installed peer that cannot says why (and no install command, which would not help); one that
// can is loaded with that device, whatever the load parameters say.
TEST(PythonBridge, GpuRowAsksThePeerAboutTheDeviceAndLoadsOnIt) {
  ASSERT_FALSE(runner_dir().empty());
  test::TempDir dir;
  auto runner = dir.write("gpu_row.py", protocol_runner(R"(
import os
class FakeCuda:
    @staticmethod
    def is_available():
        return os.environ.get("FAKE_GPUS", "0") != "0"
    @staticmethod
    def device_count():
        return int(os.environ.get("FAKE_GPUS", "0"))
class FakeVersion:
    cuda = None
class FakeTorch:
    __version__ = "9.1"
    cuda = FakeCuda
    version = FakeVersion
class P(protocol.Peer):
    name = "fake-peer"
    def import_peer(self):
        return "1"
    def device_problem(self, device):
        if os.environ.get("FAKE_CPU_ONLY"):
            return protocol.Peer.device_problem(self, device)
        return protocol.torch_device_problem(FakeTorch, device)
    def load(self, req):
        return {"model_file": req.model_path, "format": "fake", "precision": "float16", "device": req.device,
                "n_threads": 1, "version": "1"}
    def transcribe(self, audio):
        return "ok", "en"
)"));
  BridgeSpec spec = fake_spec(runner);
  spec.device = "cuda";
  {
    test::EnvGuard env;
    env.set("FAKE_GPUS", "0");
    PythonBridge b(spec);
    EXPECT_EQ(b.describe().device, "cuda");
    EXPECT_EQ(b.unavailable_reason(),
              "torch 9.1 sees no CUDA device (built for CUDA none) (" + test::python() + ")");
    EXPECT_THROW(b.load(fake_params()), Error);
  }
  {
    test::EnvGuard env;
    env.set("FAKE_CPU_ONLY", "1");
    PythonBridge b(spec);
    EXPECT_EQ(b.unavailable_reason(), "fake-peer runs on the CPU only here (" + test::python() + ")");
  }
  {
    test::EnvGuard env;
    env.set("FAKE_GPUS", "1");
    PythonBridge b(spec);
    ASSERT_EQ(b.unavailable_reason(), "");
    b.load(fake_params());  // the parameters say "cpu"; the row says "cuda"
    EXPECT_EQ(b.used().device, "cuda");
    spec.device = "cuda:1";
    PythonBridge second(spec);
    EXPECT_EQ(second.unavailable_reason(), "cuda:1: torch sees 1 CUDA device(s) (" + test::python() + ")");
  }
  // The same runner on a CPU row is not asked about any GPU.
  PythonBridge cpu(fake_spec(runner));
  EXPECT_EQ(cpu.describe().device, "cpu");
  EXPECT_EQ(cpu.unavailable_reason(), "");
}

TEST(PythonBridge, PeerErrorIsOneLineAndTheRunnerKeepsServing) {
  ASSERT_FALSE(runner_dir().empty());
  test::TempDir dir;
  auto runner = dir.write("picky.py", protocol_runner(R"(
class P(protocol.Peer):
    name = "fake-peer"
    def import_peer(self):
        return "1"
    def load(self, req):
        req.require_model_path(want_dir=True)
        return {"model_file": req.model_path, "format": "fake", "precision": "float32", "device": "cpu",
                "n_threads": 1, "version": "1"}
    def transcribe(self, audio):
        return "ok", "en"
)"));
  PythonBridge b(fake_spec(runner));
  ImplParams p = fake_params();
  p.model_path = (dir / "absent model").string();
  try {
    b.load(p);
    FAIL() << "a missing model must throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "fake-peer: " + p.model_path + ": model not found");
  }
  p.model_path = dir.path().string();
  b.load(p);
  EXPECT_EQ(b.transcribe(std::vector<float>(10, 0.0f)).text, "ok");
}

TEST(PythonBridge, GarbageAnswerIsReported) {
  test::TempDir dir;
  auto runner =
      dir.write("garbage.py", "import sys\nfor line in sys.stdin:\n    print('<html>not json', flush=True)\n");
  PythonBridge b(fake_spec(runner));
  EXPECT_NE(b.unavailable_reason().find("unreadable answer from the runner: <html>not json"), std::string::npos)
      << b.unavailable_reason();
}

// An installed tool finds its runners from $WHISPER_SPEEDTEST_DATA (share/whisper-speedtest/data) as
// ../python; without it, the source tree's.
TEST(PythonBridge, RunnersAreFoundBesideTheDataDirectory) {
  test::TempDir share;
  share.write("python/protocol.py", "# protocol\n");
  std::filesystem::create_directories(share / "data");
  ::setenv("WHISPER_SPEEDTEST_DATA", (share / "data").c_str(), 1);
  auto found = runner_dir();
  ::unsetenv("WHISPER_SPEEDTEST_DATA");
  EXPECT_EQ(found, (share / "python").lexically_normal());
  EXPECT_EQ(runner_dir(), (test::source_dir() / "src/impls/python").lexically_normal());
}

TEST(PythonBridge, InterpreterChoiceFollowsOverrideThenEnvironment) {
  ::setenv("WHISPER_SPEEDTEST_PYTHON", "/opt/py/bin/python3", 1);
  EXPECT_EQ(python_candidates(), std::vector<std::string>{"/opt/py/bin/python3"});
  set_python_override("/flag/python");
  EXPECT_EQ(python_candidates(), std::vector<std::string>{"/flag/python"});
  set_python_override("");
  ::unsetenv("WHISPER_SPEEDTEST_PYTHON");
  auto all = python_candidates();
  ASSERT_FALSE(all.empty());
  // Without a choice every interpreter that may have the peers is tried, python3 on PATH among them.
  EXPECT_NE(std::find(all.begin(), all.end(), test::capture("command -v python3")), all.end());
}

}  // namespace
}  // namespace wst::impls
