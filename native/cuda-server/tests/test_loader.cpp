// Bad checkpoints must stop loading with a message naming the file and tensor, expected vs
// got. Each case copies the good tiny model and breaks one thing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "error.h"
#include "model.h"
#include "test_models.h"

namespace bg {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class BrokenCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = test_model("tiny-llama");
    dir_ = fs::temp_directory_path() /
           ("brewgate-loader-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* f : {"config.json", "model.safetensors"})
      fs::copy_file(fs::path(src_) / f, dir_ / f);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file() const { return (dir_ / "model.safetensors").string(); }

  // Splits model.safetensors into (header json, data bytes).
  void read(json* header, std::string* data) const {
    std::ifstream in(file(), std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    uint64_t n;
    std::memcpy(&n, all.data(), 8);
    *header = json::parse(all.substr(8, n));
    *data = all.substr(8 + n);
  }
  void write(const json& header, const std::string& data) const {
    std::string h = header.dump();
    uint64_t n = h.size();
    std::ofstream out(file(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << h << data;
  }
  void edit_config(const std::function<void(json&)>& fn) const {
    json c = json::parse(std::ifstream(dir_ / "config.json"));
    fn(c);
    std::ofstream(dir_ / "config.json") << c.dump();
  }
  // The load error message; fails the test if loading succeeds.
  std::string load_error() const {
    try {
      load_model(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "broken checkpoint loaded without error";
    return "";
  }

  std::string src_;
  fs::path dir_;
};

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

TEST_F(BrokenCheckpoint, GoodCopyLoads) {
  Model m = load_model(dir_.string());
  EXPECT_EQ(m.cfg.architecture, "LlamaForCausalLM");
  EXPECT_EQ(m.cfg.vocab, 2048);
  EXPECT_GT(m.num_params, 0);
}

TEST_F(BrokenCheckpoint, UnknownArchitecture) {
  edit_config([](json& c) { c["architectures"] = {"GPTNeoXForCausalLM"}; });
  const std::string e = load_error();
  EXPECT_HAS(e, "config.json");
  EXPECT_HAS(e, "unknown architecture");
  EXPECT_HAS(e, "GPTNeoXForCausalLM");
}

TEST_F(BrokenCheckpoint, TruncatedFile) {
  fs::resize_file(file(), fs::file_size(file()) - 1000);
  const std::string e = load_error();
  EXPECT_HAS(e, file());
  EXPECT_HAS(e, "tensor '");
  EXPECT_HAS(e, "truncated");
}

TEST_F(BrokenCheckpoint, FileShorterThanHeader) {
  fs::resize_file(file(), 100);
  const std::string e = load_error();
  EXPECT_HAS(e, file());
  EXPECT_HAS(e, "header length");
}

TEST_F(BrokenCheckpoint, HeaderLiesAboutOffsets) {
  json h;
  std::string d;
  read(&h, &d);
  auto& t = h["model.layers.1.mlp.down_proj.weight"];
  const uint64_t b = t["data_offsets"][0];
  t["data_offsets"] = {b, b + 12};  // span disagrees with shape
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, file());
  EXPECT_HAS(e, "model.layers.1.mlp.down_proj.weight");
  EXPECT_HAS(e, "expected " + std::to_string(64 * 128 * 4) + " bytes");
}

TEST_F(BrokenCheckpoint, OffsetsPastEndOfData) {
  json h;
  std::string d;
  read(&h, &d);
  auto& t = h["model.norm.weight"];
  t["data_offsets"] = {d.size() - 4, d.size() - 4 + 64 * 4};
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, "model.norm.weight");
  EXPECT_HAS(e, "data bytes");
}

TEST_F(BrokenCheckpoint, OverlappingTensors) {
  json h;
  std::string d;
  read(&h, &d);
  // Same size, pointed into the middle of another tensor's bytes.
  const uint64_t b = h["model.layers.0.mlp.up_proj.weight"]["data_offsets"][0];
  h["model.layers.0.input_layernorm.weight"]["data_offsets"] = {b + 4, b + 4 + 64 * 4};
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, file());
  EXPECT_HAS(e, "non-overlapping");
}

TEST_F(BrokenCheckpoint, MissingTensor) {
  json h;
  std::string d;
  read(&h, &d);
  h.erase("model.layers.1.self_attn.k_proj.weight");
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, "missing tensor 'model.layers.1.self_attn.k_proj.weight'");
  EXPECT_HAS(e, file());
}

TEST_F(BrokenCheckpoint, WrongShape) {
  json h;
  std::string d;
  read(&h, &d);
  h["model.layers.0.self_attn.q_proj.weight"]["shape"] = {32, 128};  // same size, wrong shape
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_HAS(e, "expected [64, 64], got [32, 128]");
  EXPECT_HAS(e, file());
}

TEST_F(BrokenCheckpoint, WrongDtype) {
  edit_config([](json& c) { c["torch_dtype"] = "bfloat16"; });
  const std::string e = load_error();
  EXPECT_HAS(e, "model.embed_tokens.weight");
  EXPECT_HAS(e, "expected BF16");
  EXPECT_HAS(e, "got F32");
}

TEST_F(BrokenCheckpoint, DtypeKeyVariants) {
  edit_config([](json& c) { c.erase("torch_dtype"); });
  EXPECT_EQ(load_model(dir_.string()).cfg.dtype, "float32");  // from the weights
  edit_config([](json& c) { c["dtype"] = "float16"; });         // newer transformers' key
  EXPECT_HAS(load_error(), "expected F16");
}

TEST_F(BrokenCheckpoint, UnsupportedTensorDtype) {
  json h;
  std::string d;
  read(&h, &d);
  h["model.norm.weight"]["dtype"] = "I8";
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, "model.norm.weight");
  EXPECT_HAS(e, "got I8");
}

TEST_F(BrokenCheckpoint, ExtraTensorIsRefused) {
  json h;
  std::string d;
  read(&h, &d);
  // An o_proj bias this code would silently ignore: reuse the final norm's (64,) bytes.
  h["model.layers.0.self_attn.o_proj.bias"] = h["model.norm.weight"];
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, "model.layers.0.self_attn.o_proj.bias");
  EXPECT_HAS(e, file());
}

TEST_F(BrokenCheckpoint, UnsupportedBiasFlags) {
  edit_config([](json& c) { c["mlp_bias"] = true; });
  EXPECT_HAS(load_error(), "mlp_bias");
}

TEST_F(BrokenCheckpoint, ConfigMissingField) {
  edit_config([](json& c) { c.erase("num_hidden_layers"); });
  const std::string e = load_error();
  EXPECT_HAS(e, "config.json");
  EXPECT_HAS(e, "num_hidden_layers");
}

TEST_F(BrokenCheckpoint, UnsupportedRopeScaling) {
  edit_config([](json& c) { c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
  EXPECT_HAS(load_error(), "yarn");
}

TEST_F(BrokenCheckpoint, IndexNamesMissingShard) {
  fs::remove(file());
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}})";
  const std::string e = load_error();
  EXPECT_HAS(e, "model-00001-of-00002.safetensors");
  EXPECT_HAS(e, "does not exist");
}

TEST_F(BrokenCheckpoint, NoWeightsAtAll) {
  fs::remove(file());
  EXPECT_HAS(load_error(), "expected model.safetensors or model.safetensors.index.json");
}

}  // namespace
}  // namespace bg
