// Placeholder until this format's reader and writer land (issue #6, in progress this session).
#include "formats/weight_io.h"
#include "util/errors.h"

namespace wst::formats {

WhisperWeights read_openai_pt(const std::string& file) { throw Error(file + ": reading this format is not implemented yet (issue #6)"); }
void write_openai_pt(const WhisperWeights&, const std::string& file, std::optional<DType>) {
  throw Error(file + ": writing this format is not implemented yet (issue #6)");
}

}  // namespace wst::formats
