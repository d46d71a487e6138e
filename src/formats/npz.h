// numpy's .npy arrays and .npz archives (np.savez, np.savez_compressed, mlx's mx.savez), read as views and
// written with every array's data aligned to 64 bytes in the file.
//
//   NpzFile npz = read_npz("/models/whisper-tiny-mlx/weights.npz");
//   for (auto& [name, t] : npz.arrays) w.add_view(name, t.shape, t.dtype, t.data, t.n_bytes);
//   w.keep_alive(npz.keep_alive);
//
//   write_npz("/tmp/out/weights.npz", {{"encoder.conv1.weight", tensor}, ...});
//
// .npy (format versions 1.0, 2.0, 3.0):
//   "\x93NUMPY", u8 major, u8 minor, header length (u16 for 1.0, u32 for 2.0 and 3.0), header, data
//   header: a Python dict literal, padded with spaces and ending in "\n", e.g.
//     {'descr': '<f4', 'fortran_order': False, 'shape': (384, 80, 3), }
// Types read and written: '<f4' float32, '<f2' float16, and '<V2' (or '|V2') as bfloat16, which is how mlx
// stores bfloat16 (numpy has no such type). Fortran-order arrays (mlx writes transposed arrays so) are
// copied into row-major order; data after the array is refused. .npz: a zip (formats/zip_archive.h) of
// "<name>.npy" entries, stored or deflated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "formats/whisper_weights.h"

namespace wst::formats {

struct NpzFile {
  std::map<std::string, TensorRef> arrays;  // name (the entry's name without ".npy") -> row-major array
  std::shared_ptr<const void> keep_alive;   // the mapped file and any buffer the arrays point into
};

// Reads every array of the .npz at `path`. Throws wst::Error "<path>: <entry>: <problem>".
NpzFile read_npz(const std::string& path);

// The same on bytes in memory (which must outlive the result); `path` names them in errors.
NpzFile parse_npz(const uint8_t* data, size_t size, const std::string& path);

// One .npy held in `data`. The result points into `data`, or into `*copy` (filled) when the array is stored
// in Fortran order. `where` names it in errors.
TensorRef parse_npy(const uint8_t* data, size_t size, const std::string& where, std::vector<uint8_t>* copy);

// The .npy header (magic, version 1.0, dict, padding) for an array of `shape` and `dtype`, padded so that
// `offset + header size` is a multiple of 64.
std::string npy_header(const std::vector<int64_t>& shape, DType dtype, size_t offset = 0);

// Writes the arrays (in this order, names without ".npy") as a stored .npz at `path`.
void write_npz(const std::string& path, const std::vector<std::pair<std::string, TensorRef>>& arrays);

}  // namespace wst::formats
