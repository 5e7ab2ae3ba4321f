#include "dtype.h"

#include <cstring>

#include "error.h"

namespace bg {

namespace {

struct DTypeInfo {
  DType d;
  const char* name;
  int bits;
};

constexpr DTypeInfo kDtypes[] = {
    {DType::BOOL, "BOOL", 8},       {DType::U8, "U8", 8},           {DType::I8, "I8", 8},
    {DType::I16, "I16", 16},        {DType::U16, "U16", 16},        {DType::I32, "I32", 32},
    {DType::U32, "U32", 32},        {DType::I64, "I64", 64},        {DType::U64, "U64", 64},
    {DType::F4, "F4", 4},           {DType::F6_E2M3, "F6_E2M3", 6}, {DType::F6_E3M2, "F6_E3M2", 6},
    {DType::F8_E4M3, "F8_E4M3", 8}, {DType::F8_E5M2, "F8_E5M2", 8}, {DType::F8_E8M0, "F8_E8M0", 8},
    {DType::F16, "F16", 16},        {DType::BF16, "BF16", 16},      {DType::F32, "F32", 32},
    {DType::F64, "F64", 64},        {DType::C64, "C64", 64},
};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDtypes)
    if (i.d == d) return i;
  BG_ASSERT(false);
  return kDtypes[0];
}

}  // namespace

const char* dtype_name(DType d) { return info(d).name; }
int dtype_bits(DType d) { return info(d).bits; }

bool dtype_from_name(const std::string& s, DType* d) {
  for (const auto& i : kDtypes)
    if (s == i.name) {
      *d = i.d;
      return true;
    }
  return false;
}

bool dtype_readable(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }

float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7FFFFFFFu;
  if (u >= 0x7F800000u) return sign | 0x7C00u | (u > 0x7F800000u ? 0x200u : 0u);  // inf, NaN
  if (u >= 0x477FF000u) return sign | 0x7C00u;  // 65520 and up round to infinity
  if (u >= 0x38800000u) {                       // normal in f16 (>= 2^-14)
    uint32_t v = u - (112u << 23);              // rebias the exponent: 127 -> 15
    v += 0xFFFu + ((v >> 13) & 1u);             // round the 13 dropped bits to nearest even
    return sign | static_cast<uint16_t>(v >> 13);
  }
  if (u < 0x33000000u) return sign;  // below 2^-25 (2^-25 itself ties to even: zero)
  // Subnormal in f16: units of 2^-24, value = m * 2^(e - 150), so m >> (126 - e) units.
  const uint32_t e = u >> 23, m = (u & 0x7FFFFFu) | 0x800000u, shift = 126 - e;
  uint32_t r = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (r & 1u))) ++r;  // may carry into the smallest normal
  return sign | static_cast<uint16_t>(r);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalize
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      u = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7F800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Safetensors data is little-endian, as is every host this builds for; 16-bit elements are
// read with memcpy because a tensor's offset need not be 2-aligned in the file.
void convert_to_f32(DType d, const void* src, size_t n, float* dst) {
  BG_ASSERT(dtype_readable(d));
  if (d == DType::F32) {
    std::memcpy(dst, src, n * 4);
    return;
  }
  const auto* s = static_cast<const uint8_t*>(src);
  uint16_t h;
  if (d == DType::BF16) {
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&h, s + 2 * i, 2);
      dst[i] = bf16_to_f32(h);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&h, s + 2 * i, 2);
      dst[i] = f16_to_f32(h);
    }
  }
}

void convert_to_bf16(DType d, const void* src, size_t n, uint16_t* dst) {
  BG_ASSERT(dtype_readable(d));
  if (d == DType::BF16) {
    std::memcpy(dst, src, n * 2);
    return;
  }
  const auto* s = static_cast<const uint8_t*>(src);
  if (d == DType::F32) {
    float f;
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&f, s + 4 * i, 4);
      dst[i] = f32_to_bf16(f);
    }
  } else {
    uint16_t h;
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&h, s + 2 * i, 2);
      dst[i] = f32_to_bf16(f16_to_f32(h));
    }
  }
}

}  // namespace bg
