// Tests for src/bench/stats.cpp with numbers worked out by hand.
#include "bench/stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace wst::bench {
namespace {

TEST(Stats, OddCount) {
  // {4, 1, 2}: sorted 1 2 4; mean 7/3; deviations -4/3, -1/3, 5/3; squares sum 42/9; /(n-1)=2 -> 7/3.
  Stats s = summarize({4.0, 1.0, 2.0});
  EXPECT_EQ(s.n, 3u);
  EXPECT_DOUBLE_EQ(s.median, 2.0);
  EXPECT_DOUBLE_EQ(s.mean, 7.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 4.0);
  EXPECT_NEAR(s.stddev, std::sqrt(7.0 / 3.0), 1e-12);  // 1.5275...
}

TEST(Stats, EvenCountMedianIsTheMeanOfTheMiddleTwo) {
  // {10, 2, 8, 4}: sorted 2 4 8 10; median (4+8)/2 = 6; mean 6; squares 16+4+4+16 = 40; /3 -> sqrt(40/3).
  Stats s = summarize({10.0, 2.0, 8.0, 4.0});
  EXPECT_DOUBLE_EQ(s.median, 6.0);
  EXPECT_DOUBLE_EQ(s.mean, 6.0);
  EXPECT_NEAR(s.stddev, std::sqrt(40.0 / 3.0), 1e-12);
}

TEST(Stats, OneValueHasNoSpread) {
  Stats s = summarize({812.5});
  EXPECT_EQ(s.n, 1u);
  EXPECT_DOUBLE_EQ(s.median, 812.5);
  EXPECT_DOUBLE_EQ(s.mean, 812.5);
  EXPECT_DOUBLE_EQ(s.stddev, 0.0);
}

TEST(Stats, EmptyIsAllZero) {
  Stats s = summarize({});
  EXPECT_EQ(s.n, 0u);
  EXPECT_DOUBLE_EQ(s.median, 0.0);
}

TEST(Stats, LargeOffsetDoesNotCancel) {
  // 1e9 + {1, 2, 3}: stddev 1 exactly; a one-pass sum of squares would lose it.
  Stats s = summarize({1e9 + 1, 1e9 + 2, 1e9 + 3});
  EXPECT_NEAR(s.stddev, 1.0, 1e-9);
}

TEST(Stats, RealTimeFactor) {
  EXPECT_DOUBLE_EQ(real_time_factor(11.0, 0.5), 22.0);  // 11 s of audio in half a second
  EXPECT_DOUBLE_EQ(real_time_factor(11.0, 22.0), 0.5);  // slower than real time
  EXPECT_DOUBLE_EQ(real_time_factor(11.0, 0.0), 0.0);
}

}  // namespace
}  // namespace wst::bench
