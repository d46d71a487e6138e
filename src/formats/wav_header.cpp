// WAV chunk walk and size check; the layout and the rule are in wav_header.h.
#include "formats/wav_header.h"

#include <cstdio>

namespace wst::formats {
namespace {

// Sizes at or above this are what streaming writers put where they cannot know the length (arecord's
// 0x7fffff00, ffmpeg's 0xffffffff): "read to the end".
constexpr uint64_t kStreamingSizeFrom = 0x7fff0000;

class Reader {
 public:
  Reader(std::string_view bytes, bool big_endian) : b_(bytes), big_(big_endian) {}
  bool has(uint64_t offset, uint64_t n) const { return offset <= b_.size() && n <= b_.size() - offset; }
  uint64_t le(uint64_t offset, int n) const {  // caller checked has(offset, n)
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      const uint64_t byte = static_cast<unsigned char>(b_[offset + i]);
      v |= big_ ? byte << (8 * (n - 1 - i)) : byte << (8 * i);
    }
    return v;
  }
  std::string_view id(uint64_t offset) const { return b_.substr(offset, 4); }

 private:
  std::string_view b_;
  bool big_;
};

bool is_placeholder(uint64_t size) { return size == 0 || size >= kStreamingSizeFrom; }

std::string seconds(const WavHeader& h, uint64_t bytes) {
  if (h.sample_rate == 0 || h.block_align == 0) return "";
  char buf[48];
  // Whole milliseconds, rounded down: a file one frame short must not read as long as the claim.
  const uint64_t ms = bytes / h.block_align * 1000 / h.sample_rate;
  std::snprintf(buf, sizeof buf, " (%llu.%03llu s)", static_cast<unsigned long long>(ms / 1000),
                static_cast<unsigned long long>(ms % 1000));
  return buf;
}

}  // namespace

WavHeader parse_wav_header(std::string_view head, uint64_t file_size) {
  WavHeader h;
  if (head.size() < 12) return h;
  const std::string_view magic = head.substr(0, 4);
  if ((magic != "RIFF" && magic != "RIFX" && magic != "RF64") || head.substr(8, 4) != "WAVE") return h;
  h.is_wav = true;
  h.container = std::string(magic);
  const Reader r(head, magic == "RIFX");
  h.riff_size = r.le(4, 4);
  bool have_ds64 = false;
  uint64_t ds64_data_size = 0;
  // Walk the chunks after "WAVE" until the data chunk, which holds the samples (anything after it is not
  // needed to judge the sizes).
  for (uint64_t at = 12; r.has(at, 8);) {
    const std::string_view id = r.id(at);
    const uint64_t size = r.le(at + 4, 4);
    const uint64_t body = at + 8;
    if (id == "fmt " && r.has(body, 16)) {
      h.have_fmt = true;
      h.format_tag = static_cast<uint16_t>(r.le(body, 2));
      h.n_channels = static_cast<uint16_t>(r.le(body + 2, 2));
      h.sample_rate = static_cast<uint32_t>(r.le(body + 4, 4));
      h.block_align = static_cast<uint16_t>(r.le(body + 12, 2));
      h.bits_per_sample = static_cast<uint16_t>(r.le(body + 14, 2));
    } else if (id == "ds64" && magic == "RF64" && r.has(body, 16)) {
      have_ds64 = true;
      h.riff_size = r.le(body, 8);
      ds64_data_size = r.le(body + 8, 8);
    } else if (id == "data") {
      h.have_data = true;
      h.data_offset = body;
      h.data_size = magic == "RF64" && have_ds64 && size == 0xffffffff ? ds64_data_size : size;
      break;
    }
    at = body + size + (size & 1);
    if (at > file_size) break;  // a chunk that runs past the end: no data chunk after it
  }
  return h;
}

std::string wav_size_problem(const WavHeader& h, uint64_t file_size) {
  if (!h.is_wav || !h.have_data || h.data_offset > file_size) return "";
  const uint64_t present = file_size - h.data_offset;  // bytes from the first sample to the end of the file
  const bool data_known = !is_placeholder(h.data_size) || (h.container == "RF64" && h.data_size != 0xffffffff &&
                                                            h.data_size != 0);
  const bool frames_known = h.have_fmt && h.block_align > 0 &&
                            (h.format_tag == 1 || h.format_tag == 3 || h.format_tag == 0xfffe);
  if (data_known) {
    if (h.data_size > present) {
      std::string why = "truncated WAV file: the data chunk claims " + std::to_string(h.data_size) + " bytes" +
                        seconds(h, h.data_size) + ", the file holds " + std::to_string(present) + " of them" +
                        seconds(h, present);
      if (frames_known && present % h.block_align != 0)
        why += ", ending in the middle of a " + std::to_string(h.block_align) + "-byte sample frame";
      return why;
    }
    if (frames_known && h.data_size % h.block_align != 0)
      return "bad WAV header: the data chunk size " + std::to_string(h.data_size) + " is not a whole number of " +
             std::to_string(h.block_align) + "-byte sample frames";
  }
  const bool riff_known = !is_placeholder(h.riff_size) || (h.container == "RF64" && h.riff_size != 0xffffffff &&
                                                            h.riff_size != 0);
  if (riff_known) {
    const uint64_t riff_end = h.riff_size + 8;  // the file size the RIFF header claims
    if (riff_end > file_size + 1)  // + 1: a final pad byte some writers count and do not write
      return "truncated WAV file: the RIFF header claims " + std::to_string(riff_end) + " bytes, the file has " +
             std::to_string(file_size);
    const uint64_t data_end = h.data_offset + (data_known ? h.data_size : present);
    if (data_known && riff_end < data_end)
      return "bad WAV header: the RIFF size (" + std::to_string(h.riff_size) + ") ends at byte " +
             std::to_string(riff_end) + ", before the data chunk does (byte " + std::to_string(data_end) + ")";
  }
  return "";
}

}  // namespace wst::formats
