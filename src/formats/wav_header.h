// The chunk layout of a WAV file (RIFF, RIFX and RF64), read from its first bytes, and the check that its
// sizes agree with the file: libsndfile reads whatever audio is there when a header overstates it, so a
// truncated file would otherwise be benchmarked as a shorter clip without a word.
//
//   WavHeader h = parse_wav_header(first_bytes, file_size);
//   if (std::string why = wav_size_problem(h, file_size); !why.empty()) throw Error(path + ": " + why);
//
// Layout (little-endian; RIFX is the same big-endian; RF64 is RIFF with 64-bit sizes in a ds64 chunk):
//   "RIFF" u32 riff_size "WAVE"                    riff_size = bytes after these first 8 (file size - 8)
//   then chunks: 4-byte id, u32 size, size bytes, one pad byte when size is odd
//     "fmt "  u16 format_tag, u16 n_channels, u32 sample_rate, u32 bytes/s, u16 block_align, u16 bits, ...
//     "ds64"  (RF64 only, first) u64 riff_size, u64 data_size, u64 n_frames, ...
//     "data"  the samples: data_size bytes of frames of block_align bytes
//
// The rule (wav_size_problem):
//   - A size that is a streaming placeholder means "unknown, read to the end of the file" and is accepted:
//     0, 0xffffffff (ffmpeg writing to a pipe) or anything from 0x7fff0000 up (arecord writes 0x7fffff00
//     when it cannot know the length). RF64's 32-bit fields are 0xffffffff by design.
//   - Otherwise the data chunk must be all there: claiming even one byte more than the file holds is a
//     truncated file (a cut download or copy), refused with both sizes. A PCM or float data size that is
//     not a whole number of frames is refused too.
//   - The RIFF size must reach the end of the data chunk (else it is wrong) and may not claim more than
//     the file (else the file is truncated); a RIFF size smaller than the file is accepted (tags appended
//     after the RIFF form, a pad byte).
// Files that are not RIFF/RIFX/RF64 WAVE, and WAVs whose fmt or data chunk is not within the bytes given,
// get no opinion here (is_wav false or have_data false): libsndfile decides about them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wst::formats {

struct WavHeader {
  bool is_wav = false;          // "RIFF"/"RIFX"/"RF64" ... "WAVE"
  std::string container;        // "RIFF", "RIFX" or "RF64"
  uint64_t riff_size = 0;       // as the header claims (the ds64 value for RF64)
  bool have_fmt = false;
  uint16_t format_tag = 0;      // 1 PCM, 3 IEEE float, 0xfffe extensible, others compressed
  uint16_t n_channels = 0;
  uint32_t sample_rate = 0;
  uint16_t block_align = 0;     // bytes per frame (all channels)
  uint16_t bits_per_sample = 0;
  bool have_data = false;
  uint64_t data_offset = 0;     // file offset of the first sample byte
  uint64_t data_size = 0;       // as the header claims (the ds64 value for RF64)
};

// Parses the first bytes of a file (`head`, as many as were read) whose whole size is `file_size`. Never
// throws: what cannot be found within `head` is left unset.
WavHeader parse_wav_header(std::string_view head, uint64_t file_size);

// "" when the header's sizes agree with a file of `file_size` bytes (or there is nothing to judge), else one
// line saying what is wrong, e.g. "truncated WAV file: the data chunk claims 352000 bytes (11.000 s), the
// file holds 176000 of them (5.500 s)".
std::string wav_size_problem(const WavHeader& h, uint64_t file_size);

}  // namespace wst::formats
