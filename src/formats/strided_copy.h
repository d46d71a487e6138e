// Gathers a strided array (a transposed torch tensor, a Fortran-order npy array) into a contiguous
// row-major copy. The caller has checked that every element lies inside `base`'s buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wst::formats {

// `strides` are in elements, one per dimension of `shape` (all >= 0).
inline std::vector<uint8_t> strided_copy(const uint8_t* base, const std::vector<int64_t>& shape,
                                         const std::vector<int64_t>& strides, size_t elem_size) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  std::vector<uint8_t> out(n * elem_size);
  if (n == 0) return out;
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  size_t src = 0;  // element offset of `index`
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(out.data() + i * elem_size, base + src * elem_size, elem_size);
    // Next row-major index: the last dimension runs fastest.
    for (size_t k = rank; k-- > 0;) {
      if (++index[k] < shape[k]) {
        src += static_cast<size_t>(strides[k]);
        break;
      }
      src -= static_cast<size_t>(strides[k]) * static_cast<size_t>(shape[k] - 1);
      index[k] = 0;
    }
  }
  return out;
}

}  // namespace wst::formats
