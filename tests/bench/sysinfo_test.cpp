// Tests for src/bench/sysinfo.cpp: the machine line of the summary header, and what /proc gives here.
#include "bench/sysinfo.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace wst::bench {
namespace {

TEST(SysInfo, OneLine) {
  SystemInfo s;
  s.cpu_model = "Intel(R) Xeon(R) Gold 6338";
  s.n_logical_cores = 16;
  s.n_physical_cores = 8;
  s.memory_bytes = 64ll << 30;
  EXPECT_EQ(s.one_line(), "Intel(R) Xeon(R) Gold 6338 · 16 cores (8 physical) · 64.0 GiB RAM · GPU: none");
  s.gpus = {"NVIDIA H100 80GB HBM3"};
  s.n_physical_cores = 16;
  EXPECT_EQ(s.one_line(), "Intel(R) Xeon(R) Gold 6338 · 16 cores · 64.0 GiB RAM · GPU: NVIDIA H100 80GB HBM3");
  s.hostname = "box";
  EXPECT_EQ(s.label(), "box (Intel(R) Xeon(R) Gold 6338)");
}

TEST(SysInfo, ReadsThisMachine) {
  SystemInfo s = collect_system_info();
  EXPECT_FALSE(s.cpu_model.empty());
  EXPECT_GE(s.n_logical_cores, 1);
  EXPECT_LE(s.n_logical_cores, static_cast<int>(::sysconf(_SC_NPROCESSORS_CONF)));
  EXPECT_GT(s.memory_bytes, 0);
  EXPECT_EQ(s.memory_bytes, static_cast<long long>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(s.os.rfind("Linux ", 0), 0u) << s.os;
  ASSERT_EQ(s.libraries.size(), 4u);
  EXPECT_EQ(s.libraries[0].first, "libsndfile");
  EXPECT_EQ(s.libraries[0].second.rfind("libsndfile-", 0), 0u) << s.libraries[0].second;
}

}  // namespace
}  // namespace wst::bench
