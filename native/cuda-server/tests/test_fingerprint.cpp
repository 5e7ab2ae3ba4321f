// SHA-256 against the FIPS 180-2 vectors, and the two ModelInfo fingerprints against the
// formula proto/inference.proto documents, recomputed here from the files.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "error.h"
#include "fingerprint.h"
#include "model.h"
#include "sha256.h"
#include "test_checkpoints.h"
#include "test_models.h"

namespace bg {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// The documented formula, given the safetensors files in the order they are to be hashed.
std::string expected_model_sha256(const fs::path& dir, const std::vector<fs::path>& files) {
  const std::string config = slurp(dir / "config.json");
  std::string stream = u64le(config.size()) + config;
  for (const auto& f : files) {
    const std::string all = slurp(f);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<uint8_t>(all[i]);
    stream += all.substr(0, 8 + n);
  }
  return sha256_hex(stream);
}

TEST(Sha256, MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileInPiecesEqualsWholeAndMissingFileThrows) {
  const fs::path dir = scratch_dir("sha");
  std::string big;
  for (int i = 0; i < 3 * (1 << 20) + 17; ++i) big += static_cast<char>(i * 31 + i / 7);
  std::ofstream(dir / "big.bin", std::ios::binary) << big;
  EXPECT_EQ(sha256_file((dir / "big.bin").string()), sha256_hex(big));
  try {
    sha256_file((dir / "absent.json").string());
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.json"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

class Fingerprint : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = test_model("tiny-llama");
    dir_ = scratch_dir("model");
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
      fs::copy_file(src_ / f, dir_ / f);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path src_, dir_;
};

TEST_F(Fingerprint, CoversConfigAndHeadersAsDocumented) {
  const Model m = load_model(dir_.string());
  EXPECT_EQ(m.sha256, expected_model_sha256(dir_, {dir_ / "model.safetensors"}));
  EXPECT_EQ(m.tokenizer_sha256, sha256_hex(slurp(dir_ / "tokenizer.json")));
  EXPECT_EQ(m.sha256.size(), 64u);
  // The directory's name is not part of it.
  EXPECT_EQ(load_model(src_.string()).sha256, m.sha256);
}

TEST_F(Fingerprint, ChangesWithConfigAndLayoutButNotWithWeightValues) {
  const std::string base = load_model(dir_.string()).sha256;
  std::ofstream(dir_ / "config.json", std::ios::app) << "\n";
  const std::string config_edited = load_model(dir_.string()).sha256;
  EXPECT_NE(config_edited, base);

  // One weight's bytes changed in place, the header untouched.
  std::string file = slurp(dir_ / "model.safetensors");
  file.back() = static_cast<char>(file.back() ^ 0x40);
  std::ofstream(dir_ / "model.safetensors", std::ios::binary | std::ios::trunc) << file;
  EXPECT_EQ(load_model(dir_.string()).sha256, config_edited) << "weights are not covered";
  json h;
  std::string data;
  read_safetensors(dir_ / "model.safetensors", &h, &data);
  h["__metadata__"] = {{"format", "pt"}};
  write_safetensors(dir_ / "model.safetensors", h, data);
  EXPECT_NE(load_model(dir_.string()).sha256, config_edited) << "the header is covered";
}

TEST_F(Fingerprint, HashesShardsInNameOrder) {
  // Two shards: odd tensors in the file named first, even ones in the other.
  json h;
  std::string data;
  read_safetensors(dir_ / "model.safetensors", &h, &data);
  fs::remove(dir_ / "model.safetensors");
  const std::string names[2] = {"model-00001-of-00002.safetensors",
                                "model-00002-of-00002.safetensors"};
  json shard[2] = {json::object(), json::object()}, index = {{"weight_map", json::object()}};
  std::string bytes[2];
  int i = 0;
  for (auto& [name, t] : h.items()) {
    if (name == "__metadata__") continue;
    const int s = (i++ % 2 == 0) ? 1 : 0;
    const auto b = t["data_offsets"][0].get<size_t>(), e = t["data_offsets"][1].get<size_t>();
    shard[s][name] = {{"dtype", t["dtype"]}, {"shape", t["shape"]},
                      {"data_offsets", {bytes[s].size(), bytes[s].size() + e - b}}};
    bytes[s] += data.substr(b, e - b);
    index["weight_map"][name] = names[s];
  }
  for (int s = 0; s < 2; ++s) write_safetensors(dir_ / names[s], shard[s], bytes[s]);
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
  const std::string got = load_model(dir_.string()).sha256;
  EXPECT_EQ(got, expected_model_sha256(dir_, {dir_ / names[0], dir_ / names[1]}));
  EXPECT_NE(got, expected_model_sha256(dir_, {dir_ / names[1], dir_ / names[0]}));
}

TEST_F(Fingerprint, TokenizerHashIsEmptyWithoutTokenizerJson) {
  fs::remove(dir_ / "tokenizer.json");
  const Model m = load_model(dir_.string());
  EXPECT_EQ(m.tokenizer_sha256, "");
  EXPECT_EQ(m.sha256.size(), 64u);
}

}  // namespace
}  // namespace bg
