// Safetensors checkpoints written by tests: read/write a file as (header, data), edit a
// config, and store a tiny model's weights again in other dtypes.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dtype.h"

namespace bg {

// A fresh directory under the system temp dir, named for the running test; the test removes it.
inline std::filesystem::path scratch_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "-" + info->name() + "-" + tag;
  for (char& ch : name)
    if (ch == '/') ch = '_';
  const auto d = std::filesystem::temp_directory_path() /
                 ("brewgate-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Splits a safetensors file into (header json, data bytes).
inline void read_safetensors(const std::filesystem::path& file, nlohmann::json* header,
                             std::string* data) {
  std::ifstream in(file, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  uint64_t n;
  std::memcpy(&n, all.data(), 8);
  *header = nlohmann::json::parse(all.substr(8, n));
  *data = all.substr(8 + n);
}

inline void write_safetensors(const std::filesystem::path& file, const nlohmann::json& header,
                              const std::string& data) {
  std::string h = header.dump();
  uint64_t n = h.size();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << h << data;
}

inline void edit_json(const std::filesystem::path& file,
                      const std::function<void(nlohmann::json&)>& fn) {
  nlohmann::json c = nlohmann::json::parse(std::ifstream(file));
  fn(c);
  std::ofstream(file) << c.dump();
}

// f16 bits of v with the mantissa cut to bf16's 7 bits, 0 below f16's normal range: a value
// that F32, BF16 and F16 all hold exactly, so one set of weights can be stored either way.
inline uint16_t common_half(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const int exp = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
  if (exp <= 0) return sign;
  EXPECT_LT(exp, 31) << "weight " << v << " beyond f16's range";
  return static_cast<uint16_t>(sign | exp << 10 | ((u >> 13) & 0x3F8));
}

// Writes the single-file F32 checkpoint in `src` to `dir` under torch_dtype bfloat16, every
// value rounded by common_half, tensor i (in header order) stored as dtypes[i % size]. Any
// choice of dtypes then holds the same weights.
inline void write_in_dtypes(const std::filesystem::path& src, const std::filesystem::path& dir,
                            const std::vector<DType>& dtypes) {
  std::filesystem::copy_file(src / "config.json", dir / "config.json",
                             std::filesystem::copy_options::overwrite_existing);
  edit_json(dir / "config.json", [](nlohmann::json& c) { c["torch_dtype"] = "bfloat16"; });
  nlohmann::json h, out;
  std::string d, data;
  read_safetensors(src / "model.safetensors", &h, &d);
  size_t i = 0;
  for (auto& [name, t] : h.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(t["dtype"], "F32") << name;
    const size_t b = t["data_offsets"][0], e = t["data_offsets"][1];
    const DType dt = dtypes[i++ % dtypes.size()];
    const size_t at = data.size();
    for (size_t o = b; o < e; o += 4) {
      float v;
      std::memcpy(&v, d.data() + o, 4);
      const uint16_t half = common_half(v);
      const float f = f16_to_f32(half);
      const uint16_t bf = f32_to_bf16(f);
      if (dt == DType::F32) data.append(reinterpret_cast<const char*>(&f), 4);
      else if (dt == DType::BF16) data.append(reinterpret_cast<const char*>(&bf), 2);
      else data.append(reinterpret_cast<const char*>(&half), 2);
    }
    out[name] = {{"dtype", dtype_name(dt)}, {"shape", t["shape"]},
                 {"data_offsets", {at, data.size()}}};
  }
  write_safetensors(dir / "model.safetensors", out, data);
}

}  // namespace bg
