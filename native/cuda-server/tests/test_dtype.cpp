// Element types: every safetensors dtype name round-trips with its size, and the three
// readable dtypes convert to fp32 and to bf16 exactly as the backends need.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "dtype.h"

namespace bg {
namespace {

TEST(Dtype, NamesAndSizes) {
  const std::vector<std::pair<const char*, int>> all = {
      {"BOOL", 8},    {"U8", 8},       {"I8", 8},       {"I16", 16},     {"U16", 16},
      {"I32", 32},    {"U32", 32},     {"I64", 64},     {"U64", 64},     {"F4", 4},
      {"F6_E2M3", 6}, {"F6_E3M2", 6},  {"F8_E4M3", 8},  {"F8_E5M2", 8},  {"F8_E8M0", 8},
      {"F16", 16},    {"BF16", 16},    {"F32", 32},     {"F64", 64},     {"C64", 64}};
  for (const auto& [name, bits] : all) {
    DType d;
    ASSERT_TRUE(dtype_from_name(name, &d)) << name;
    EXPECT_STREQ(dtype_name(d), name);
    EXPECT_EQ(dtype_bits(d), bits) << name;
    const bool readable = std::strcmp(name, "F32") == 0 || std::strcmp(name, "BF16") == 0 ||
                          std::strcmp(name, "F16") == 0;
    EXPECT_EQ(dtype_readable(d), readable) << name;
  }
  DType d;
  EXPECT_FALSE(dtype_from_name("FP32", &d));
  EXPECT_FALSE(dtype_from_name("", &d));
  EXPECT_FALSE(dtype_from_name("bf16", &d));  // safetensors spells dtypes in capitals
}

TEST(Dtype, HalfConversions) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.f);
  EXPECT_EQ(bf16_to_f32(0xC000), -2.f);
  EXPECT_EQ(f32_to_bf16(1.f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3F80);  // halfway: rounds to even
  EXPECT_EQ(f16_to_f32(0x3C00), 1.f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7C00)));
}

// The same values stored three ways: F32 bytes, BF16 and F16 bit patterns (1, -2, 0.5, 65504
// and a value bf16 must round). Offset by one byte, as a tensor in a file may be.
// F16C's conversion (round to nearest even) as the reference for the portable one.
__attribute__((target("f16c"))) uint16_t f16c_of(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(Dtype, F32ToF16RoundsLikeF16c) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "CPU lacks F16C: no reference to compare with";
  // Every f16 value (and its neighbours in f32) round-trips; then edges and random floats.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // NaN payloads may differ
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    for (const float g : {std::nextafter(f, 1e9f), std::nextafter(f, -1e9f)})
      ASSERT_EQ(f32_to_f16(g), f16c_of(g)) << g;
  }
  for (const float f : {65504.f, 65519.99f, 65520.f, 1e6f, -1e6f, 5.9604645e-8f, 2.9802322e-8f,
                        2.9802326e-8f, 6.097555e-5f, 6.1035156e-5f, 0.f, -0.f, INFINITY, -INFINITY})
    EXPECT_EQ(f32_to_f16(f), f16c_of(f)) << f;
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  uint32_t state = 12345;
  for (int i = 0; i < 2000000; ++i) {
    state = state * 1664525u + 1013904223u;
    uint32_t u = state;
    if (((u >> 23) & 0xFF) == 0xFF) continue;  // NaN and inf covered above
    float f;
    std::memcpy(&f, &u, 4);
    ASSERT_EQ(f32_to_f16(f), f16c_of(f)) << std::hexfloat << f;
  }
}

TEST(Dtype, ConvertEachReadableDtype) {
  const std::vector<float> f = {1.f, -2.f, 0.5f, 65504.f, 1.00390625f};
  const std::vector<uint16_t> bf = {0x3F80, 0xC000, 0x3F00, 0x4780, 0x3F80};
  const std::vector<uint16_t> h = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x3C04};
  auto unaligned = [](const void* src, size_t bytes) {
    std::vector<uint8_t> buf(bytes + 1);
    std::memcpy(buf.data() + 1, src, bytes);
    return buf;
  };
  const auto f_b = unaligned(f.data(), f.size() * 4), bf_b = unaligned(bf.data(), bf.size() * 2),
             h_b = unaligned(h.data(), h.size() * 2);
  std::vector<float> out(f.size());
  std::vector<uint16_t> out16(f.size());

  convert_to_f32(DType::F32, f_b.data() + 1, f.size(), out.data());
  EXPECT_EQ(out, f);
  convert_to_f32(DType::F16, h_b.data() + 1, h.size(), out.data());
  EXPECT_EQ(out, f);  // every value is exact in f16
  convert_to_f32(DType::BF16, bf_b.data() + 1, bf.size(), out.data());
  EXPECT_EQ(out, (std::vector<float>{1.f, -2.f, 0.5f, 65536.f, 1.f}));  // bf16's own rounding

  convert_to_bf16(DType::BF16, bf_b.data() + 1, bf.size(), out16.data());
  EXPECT_EQ(out16, bf);
  convert_to_bf16(DType::F32, f_b.data() + 1, f.size(), out16.data());
  EXPECT_EQ(out16, bf);
  convert_to_bf16(DType::F16, h_b.data() + 1, h.size(), out16.data());
  EXPECT_EQ(out16, bf);
}

}  // namespace
}  // namespace bg
