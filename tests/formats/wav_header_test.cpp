// formats/wav_header: the chunk walk (RIFF, RIFX, RF64, chunks before the data, odd-size padding) and the size
// rule on headers built byte by byte here: truncated data, truncated mid-frame, a RIFF size that claims too
// much or too little, a data size that is no whole number of frames, and the streaming placeholders accepted.
#include "formats/wav_header.h"

#include <gtest/gtest.h>

#include <string>

namespace wst::formats {
namespace {

std::string u16(uint16_t v, bool big = false) {
  std::string s(2, '\0');
  for (int i = 0; i < 2; ++i) s[big ? 1 - i : i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string u32(uint32_t v, bool big = false) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[big ? 3 - i : i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string u64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A 16 kHz mono 16-bit PCM WAV: header + `n_data_bytes` bytes of samples, with the sizes given (or the true
// ones when -1), and optionally a LIST chunk of odd size before the data.
struct WavBytes {
  std::string bytes;
  uint64_t data_offset = 0;
};
WavBytes make_wav(uint32_t n_data_bytes, int64_t riff_size = -1, int64_t data_size = -1, bool list_chunk = false,
                  uint16_t format_tag = 1, const char* magic = "RIFF") {
  const bool big = std::string(magic) == "RIFX";
  std::string fmt = u16(format_tag, big) + u16(1, big) + u32(16000, big) + u32(32000, big) + u16(2, big) + u16(16, big);
  std::string chunks = "fmt " + u32(16, big) + fmt;
  if (list_chunk) chunks += "LIST" + u32(5, big) + "INFOx" + std::string(1, '\0');  // odd size, one pad byte
  WavBytes w;
  w.data_offset = 12 + chunks.size() + 8;
  const uint32_t true_riff = static_cast<uint32_t>(4 + chunks.size() + 8 + n_data_bytes);
  w.bytes = std::string(magic) + u32(riff_size < 0 ? true_riff : static_cast<uint32_t>(riff_size), big) + "WAVE" +
            chunks + "data" + u32(data_size < 0 ? n_data_bytes : static_cast<uint32_t>(data_size), big) +
            std::string(n_data_bytes, '\x11');
  return w;
}

std::string problem(const std::string& bytes) {
  return wav_size_problem(parse_wav_header(bytes, bytes.size()), bytes.size());
}

TEST(WavHeader, ReadsTheChunksOfAConsistentFile) {
  WavBytes w = make_wav(32000, -1, -1, /*list_chunk=*/true);
  WavHeader h = parse_wav_header(w.bytes, w.bytes.size());
  EXPECT_TRUE(h.is_wav);
  EXPECT_EQ(h.container, "RIFF");
  EXPECT_TRUE(h.have_fmt);
  EXPECT_EQ(h.format_tag, 1);
  EXPECT_EQ(h.n_channels, 1);
  EXPECT_EQ(h.sample_rate, 16000u);
  EXPECT_EQ(h.block_align, 2);
  EXPECT_EQ(h.bits_per_sample, 16);
  EXPECT_TRUE(h.have_data);
  EXPECT_EQ(h.data_offset, w.data_offset);  // the LIST chunk's pad byte was skipped
  EXPECT_EQ(h.data_size, 32000u);
  EXPECT_EQ(wav_size_problem(h, w.bytes.size()), "");
}

TEST(WavHeader, BigEndianRifx) {
  WavBytes w = make_wav(3200, -1, -1, false, 1, "RIFX");
  WavHeader h = parse_wav_header(w.bytes, w.bytes.size());
  EXPECT_EQ(h.container, "RIFX");
  EXPECT_EQ(h.sample_rate, 16000u);
  EXPECT_EQ(h.data_size, 3200u);
  EXPECT_EQ(problem(w.bytes), "");
  EXPECT_EQ(problem(w.bytes.substr(0, w.bytes.size() - 100)),
            "truncated WAV file: the data chunk claims 3200 bytes (0.100 s), the file holds 3100 of them (0.096 s)");
}

TEST(WavHeader, DataChunkClaimingMoreThanTheFileIsTruncation) {
  WavBytes w = make_wav(32000);
  const std::string cut = w.bytes.substr(0, w.data_offset + 16000);  // half the samples
  EXPECT_EQ(problem(cut),
            "truncated WAV file: the data chunk claims 32000 bytes (1.000 s), the file holds 16000 of them (0.500 s)");
  // A file cut in the middle of a sample says so.
  EXPECT_EQ(problem(w.bytes.substr(0, w.bytes.size() - 1)),
            "truncated WAV file: the data chunk claims 32000 bytes (1.000 s), the file holds 31999 of them (0.999 s), "
            "ending in the middle of a 2-byte sample frame");
  // A data size larger than the file with the RIFF size left true to the (short) file: the data size lies.
  WavBytes liar = make_wav(32000, -1, /*data_size=*/64000);
  EXPECT_EQ(problem(liar.bytes),
            "truncated WAV file: the data chunk claims 64000 bytes (2.000 s), the file holds 32000 of them (1.000 s)");
}

TEST(WavHeader, RiffSizeMustCoverTheDataAndStayWithinTheFile) {
  WavBytes too_big = make_wav(32000, /*riff_size=*/100000);
  EXPECT_EQ(problem(too_big.bytes), "truncated WAV file: the RIFF header claims 100008 bytes, the file has 32044");
  WavBytes too_small = make_wav(32000, /*riff_size=*/1000);
  EXPECT_EQ(problem(too_small.bytes),
            "bad WAV header: the RIFF size (1000) ends at byte 1008, before the data chunk does (byte 32044)");
  // Smaller than the file but covering the data: bytes appended after the RIFF form (an ID3 tag) are fine.
  WavBytes tagged = make_wav(32000);
  tagged.bytes += "ID3" + std::string(64, '\0');
  EXPECT_EQ(problem(tagged.bytes), "");
  // One byte more than the file: the pad byte of an odd-sized last chunk, counted but not written.
  EXPECT_EQ(problem(make_wav(32000, /*riff_size=*/32037).bytes), "");
}

TEST(WavHeader, DataSizeMustBeWholeFramesForPcmAndFloat) {
  WavBytes odd = make_wav(32000, -1, /*data_size=*/31999);
  EXPECT_EQ(problem(odd.bytes),
            "bad WAV header: the data chunk size 31999 is not a whole number of 2-byte sample frames");
  // A compressed format's blocks are its own business (format tag 0x11, IMA ADPCM): no frame rule.
  EXPECT_EQ(problem(make_wav(32000, -1, 31999, false, 0x11).bytes), "");
}

TEST(WavHeader, StreamingPlaceholdersReadToTheEnd) {
  // ffmpeg writing to a pipe leaves both sizes at 0xffffffff; arecord writes 0x7fffff00 for the data and
  // that plus the header for the RIFF size; some writers leave 0.
  EXPECT_EQ(problem(make_wav(32000, 0xffffffff, 0xffffffff).bytes), "");
  EXPECT_EQ(problem(make_wav(32001, 0x7fffff24, 0x7fffff00).bytes), "");  // cut mid-frame, as a killed recorder leaves it
  EXPECT_EQ(problem(make_wav(32000, 0, 0).bytes), "");
  // Just below the placeholder range is a real claim, and a lie here.
  EXPECT_NE(problem(make_wav(32000, -1, 0x7ffeff00).bytes), "");
}

TEST(WavHeader, Rf64SizesComeFromTheDs64Chunk) {
  auto rf64 = [](uint64_t riff_size, uint64_t data_size, uint32_t n_data_bytes) {
    std::string fmt = u16(1) + u16(1) + u32(16000) + u32(32000) + u16(2) + u16(16);
    std::string ds64 = u64(riff_size) + u64(data_size) + u64(data_size / 2) + u32(0);
    return std::string("RF64") + u32(0xffffffff) + "WAVE" + "ds64" + u32(28) + ds64 + "fmt " + u32(16) + fmt +
           "data" + u32(0xffffffff) + std::string(n_data_bytes, '\x22');
  };
  const uint64_t header = 12 + 36 + 24 + 8;
  std::string ok = rf64(header - 8 + 32000, 32000, 32000);
  WavHeader h = parse_wav_header(ok, ok.size());
  EXPECT_EQ(h.container, "RF64");
  EXPECT_EQ(h.data_size, 32000u);
  EXPECT_EQ(h.data_offset, header);
  EXPECT_EQ(problem(ok), "");
  EXPECT_EQ(problem(rf64(header - 8 + 32000, 32000, 8000)),
            "truncated WAV file: the data chunk claims 32000 bytes (1.000 s), the file holds 8000 of them (0.250 s)");
}

TEST(WavHeader, NoOpinionOnWhatIsNotAWavOrHasNoDataChunkInView) {
  EXPECT_FALSE(parse_wav_header("OggS and some more bytes", 24).is_wav);
  EXPECT_EQ(problem("fLaC\0\0\0\x22 and the rest"), "");
  EXPECT_EQ(problem("RIFF"), "");  // too short to be anything
  // A chunk before the data that runs past the end of the file: no data chunk is found, libsndfile decides.
  std::string bytes = std::string("RIFF") + u32(100) + "WAVE" + "JUNK" + u32(1000000) + std::string(80, '\0');
  WavHeader h = parse_wav_header(bytes, bytes.size());
  EXPECT_TRUE(h.is_wav);
  EXPECT_FALSE(h.have_data);
  EXPECT_EQ(problem(bytes), "");
}

}  // namespace
}  // namespace wst::formats
