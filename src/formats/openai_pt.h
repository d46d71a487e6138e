// openai-whisper's checkpoint (.pt, as torch.save writes it) on bytes in memory; read_openai_pt and
// write_openai_pt (weight_io.h) are the file-level entry points. The layout is described in openai_pt.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/whisper_weights.h"

namespace wst::formats {

// Parses a checkpoint held in `data` (which must outlive the result: tensors are views into it, or into
// buffers the result owns where they had to be copied). Does not call validate(). `path` names it in errors.
WhisperWeights parse_openai_pt(const uint8_t* data, size_t size, const std::string& path);

}  // namespace wst::formats
