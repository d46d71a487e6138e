// Tests for src/bench/format.cpp: the transcript preview under each row, mm:ss, units.
#include "bench/format.h"

#include <gtest/gtest.h>

namespace wst::bench {
namespace {

TEST(Format, PreviewFoldsWhitespace) {
  EXPECT_EQ(transcript_preview("  And so\n\tmy   fellow  "), "And so my fellow");
}

TEST(Format, PreviewCutsAtOneHundredCharactersWithDots) {
  std::string text(150, 'a');
  std::string p = transcript_preview(text);
  EXPECT_EQ(p, std::string(100, 'a') + "...");
  EXPECT_EQ(transcript_preview(std::string(100, 'b')), std::string(100, 'b'));  // exactly 100: no dots
}

TEST(Format, PreviewCountsCharactersNotBytes) {
  // 101 two-byte characters: cut after 100 characters (200 bytes), never inside one.
  std::string text;
  for (int i = 0; i < 101; ++i) text += "\xC3\xA9";  // é
  std::string p = transcript_preview(text);
  EXPECT_EQ(p.size(), 200u + 3u);
  EXPECT_EQ(p.substr(200), "...");
}

TEST(Format, PreviewOfNothing) {
  EXPECT_EQ(transcript_preview(""), "(no transcription)");
  EXPECT_EQ(transcript_preview(" \n\t "), "(no transcription)");
}

TEST(Format, MinutesAndSeconds) {
  EXPECT_EQ(format_mm_ss(11.0), "00:11");
  EXPECT_EQ(format_mm_ss(59.6), "01:00");
  EXPECT_EQ(format_mm_ss(125.0), "02:05");
  EXPECT_EQ(format_mm_ss(3725.0), "1:02:05");
}

TEST(Format, Units) {
  EXPECT_EQ(format_ms(812.34), "812.3 ms");
  EXPECT_EQ(format_ms(1686.0), "1.686 s");
  EXPECT_EQ(format_ms(-1), "-");
  EXPECT_EQ(format_bytes(249ll << 20), "249.0 MiB");
  EXPECT_EQ(format_bytes(-1), "-");
}

}  // namespace
}  // namespace wst::bench
