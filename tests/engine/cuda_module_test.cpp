// The CUDA backend is a module loaded on first use (src/engine/cuda_loader.cpp): neither the CLI nor this test
// binary links the CUDA runtime or cuBLAS (whose libraries alone cost a CPU run ~84 MiB of peak RSS), and
// where the module cannot be loaded, `list` says why in one line naming the path.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "support/run_cli.h"
#include "util/errors.h"
#include "wst/engine.h"

namespace wst {
namespace {

// The DT_NEEDED entries of an ELF64 file (what `readelf -d` lists as NEEDED).
std::vector<std::string> needed_libraries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GE(f.size(), sizeof(Elf64_Ehdr)) << path;
  if (f.size() < sizeof(Elf64_Ehdr) || std::memcmp(f.data(), ELFMAG, SELFMAG) != 0 || f[EI_CLASS] != ELFCLASS64) {
    ADD_FAILURE() << path << ": not an ELF64 file";
    return {};
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  auto section = [&](size_t i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, f.data() + eh.e_shoff + i * eh.e_shentsize, sizeof sh);
    return sh;
  };
  std::vector<std::string> needed;
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    const Elf64_Shdr sh = section(i);
    if (sh.sh_type != SHT_DYNAMIC) continue;
    const Elf64_Shdr strtab = section(sh.sh_link);
    for (size_t off = 0; off + sizeof(Elf64_Dyn) <= sh.sh_size; off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, f.data() + sh.sh_offset + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED) needed.emplace_back(f.data() + strtab.sh_offset + d.d_un.d_val);
    }
  }
  return needed;
}

void expect_no_cuda_libraries(const std::string& path) {
  const std::vector<std::string> needed = needed_libraries(path);
  EXPECT_FALSE(needed.empty()) << path << ": no DT_NEEDED entries found";
  for (const std::string& lib : needed) {
    EXPECT_EQ(lib.find("libcudart"), std::string::npos) << path << " links " << lib;
    EXPECT_EQ(lib.find("libcublas"), std::string::npos) << path << " links " << lib;
    EXPECT_EQ(lib.find("libcuda."), std::string::npos) << path << " links " << lib;
  }
}

TEST(CudaModule, CliDoesNotLinkCudaLibraries) { expect_no_cuda_libraries(WST_CLI_PATH); }

TEST(CudaModule, TestBinaryDoesNotLinkCudaLibraries) { expect_no_cuda_libraries("/proc/self/exe"); }

#ifdef WST_HAVE_CUDA
// The line `list` prints for native-cuda.
std::string cuda_line(const std::string& out) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("native-cuda ", 0) == 0) return line;
  return "";
}

TEST(CudaModule, MissingModuleIsReportedInOneLine) {
  const test::CliResult r = test::run_cli({"list"}, {{"WST_CUDA_MODULE", "/nonexistent/libwst_cuda.so"}});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string line = cuda_line(r.out);
  ASSERT_FALSE(line.empty()) << r.out;
  EXPECT_NE(line.find("unavailable"), std::string::npos) << line;
  EXPECT_NE(line.find("cannot load the CUDA backend: /nonexistent/libwst_cuda.so: "), std::string::npos) << line;
  EXPECT_NE(line.find("No such file or directory"), std::string::npos) << line;
}

TEST(CudaModule, NotAModuleIsReportedInOneLine) {
  // A shared object without the entry points: the C library itself.
  const test::CliResult r = test::run_cli({"list"}, {{"WST_CUDA_MODULE", "libc.so.6"}});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string line = cuda_line(r.out);
  EXPECT_NE(line.find("cannot load the CUDA backend: libc.so.6: not a whisper-speedtest CUDA module"),
            std::string::npos) << r.out;
}

TEST(CudaModule, UnsupportedComputeTypeIsRefusedByTheModuleWithoutAGpu) {
  // The module checks the compute type before it touches a device, so its refusal crosses the module's C
  // interface as one line here too, GPU or not.
  if (const std::string why = device_unavailable_reason("cuda"); why.rfind("cannot load the CUDA backend", 0) == 0)
    GTEST_SKIP() << why;
  for (const char* type : {"int8", "float64"}) {
    try {
      engine::make_cuda_backend(0, type);
      ADD_FAILURE() << type << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("compute type ") + type +
                                           ": not supported by the cuda backend (float32, float16 or bfloat16)");
    }
  }
}

TEST(CudaModule, BuildDirectoryModuleLoads) {
  // ctest runs this binary from the build directory, where the module sits next to it: the engine then gives
  // the CUDA runtime's answer (no loader error), whether or not there is a GPU.
  const std::string why = device_unavailable_reason("cuda");
  EXPECT_TRUE(why.empty() || why.rfind("no CUDA device: ", 0) == 0) << why;
}
#endif

}  // namespace
}  // namespace wst
