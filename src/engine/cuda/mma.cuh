// The tensor cores' m16n8k16 product (mma.sync, float32 accumulation) and the packing of float32 values into its
// half operands, shared by the kernels that use them (flash_attention.cu, tensor_rows.cu). Fragment layouts (PTX ISA,
// mma.m16n8k16 with .f16/.bf16 operands): g = lane / 4, t = lane % 4;
//   A 16x16: regs {row g, cols 2t..2t+1}, {row g+8, cols 2t..}, {row g, cols 2t+8..}, {row g+8, cols 2t+8..}
//   B 16x8:  regs {rows 2t..2t+1, col g}, {rows 2t+8..2t+9, col g}
//   C 16x8:  {row g, cols 2t, 2t+1}, {row g+8, cols 2t, 2t+1}
// Device code only; included by .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace wst::engine::cuda {

template <class T> __device__ __forceinline__ uint32_t pack2(float a, float b);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float a, float b) {
  __half2 h = __floats2half2_rn(a, b);  // a in the low half
  return *reinterpret_cast<uint32_t*>(&h);
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float a, float b) {
  __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<uint32_t*>(&h);
}
template <class T> __device__ __forceinline__ uint16_t bits(float a);
template <>
__device__ __forceinline__ uint16_t bits<__half>(float a) {
  __half h = __float2half_rn(a);
  return *reinterpret_cast<uint16_t*>(&h);
}
template <>
__device__ __forceinline__ uint16_t bits<__nv_bfloat16>(float a) {
  __nv_bfloat16 h = __float2bfloat16_rn(a);
  return *reinterpret_cast<uint16_t*>(&h);
}

// m16n8k16 with float32 accumulation. kFree: an ordinary asm statement, which the compiler may move among the others
// (the original kernels keep the volatile statement they were measured with; the value is the same either way).
#define WST_MMA_M16N8K16(TYPE)                                                                                      \
  "mma.sync.aligned.m16n8k16.row.col.f32." TYPE "." TYPE ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n" \
  : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1)
template <class T, bool kFree = false>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    if constexpr (kFree)
      asm(WST_MMA_M16N8K16("f16"));
    else
      asm volatile(WST_MMA_M16N8K16("f16"));
  } else {
    if constexpr (kFree)
      asm(WST_MMA_M16N8K16("bf16"));
    else
      asm volatile(WST_MMA_M16N8K16("bf16"));
  }
}
#undef WST_MMA_M16N8K16

}  // namespace wst::engine::cuda
