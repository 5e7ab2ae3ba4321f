// Element types of safetensors files, and conversion from the ones the backends read.
//
// The parser knows every safetensors dtype, so a header is checked byte for byte whatever its
// tensors hold; only F32, BF16 and F16 can be converted (dtype_readable). Each backend turns
// those into its own compute type: fp32 on the CPU, bf16 (and fp32 for norms) on CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bg {

// Safetensors spelling; the sub-byte F4/F6 types pack several elements per byte.
enum class DType {
  BOOL, U8, I8, I16, U16, I32, U32, I64, U64,
  F4, F6_E2M3, F6_E3M2, F8_E4M3, F8_E5M2, F8_E8M0,
  F16, BF16, F32, F64, C64,
};

const char* dtype_name(DType d);  // "BF16", "F8_E4M3", ...
// Parses a safetensors dtype string; false for a string that is not one.
bool dtype_from_name(const std::string& s, DType* d);
int dtype_bits(DType d);  // bits per element

// Whether the backends can convert tensors stored as `d`, and the list of those for messages.
bool dtype_readable(DType d);
inline constexpr const char* kReadableDtypes = "F32, BF16, F16";

float bf16_to_f32(uint16_t h);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // round to nearest even
// Round to nearest even; beyond f16's range (|f| >= 65520) gives infinity, NaN a quiet NaN.
uint16_t f32_to_f16(float f);

// n elements stored as `d` (a readable dtype) at src, converted. BF16 to bf16 and F32 to fp32
// are copies; F16 and F32 to bf16 round to nearest even.
void convert_to_f32(DType d, const void* src, size_t n, float* dst);
void convert_to_bf16(DType d, const void* src, size_t n, uint16_t* dst);

}  // namespace bg
