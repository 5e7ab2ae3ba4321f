// Checkpoints the loader must refuse, with a message naming the file and tensor, expected vs
// got (each case copies the good tiny model and breaks one thing); and checkpoints it must
// accept, such as tensors stored in a dtype other than torch_dtype, or in several.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cpu_backend.h"
#include "error.h"
#include "model.h"
#include "test_checkpoints.h"
#include "test_models.h"

namespace bg {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class BrokenCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = test_model("tiny-llama");
    dir_ = scratch_dir("ckpt");
    for (const char* f : {"config.json", "model.safetensors"})
      fs::copy_file(fs::path(src_) / f, dir_ / f);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file() const { return (dir_ / "model.safetensors").string(); }

  void read(json* header, std::string* data) const { read_safetensors(file(), header, data); }
  void write(const json& header, const std::string& data) const {
    write_safetensors(file(), header, data);
  }
  void edit_config(const std::function<void(json&)>& fn) const {
    edit_json(dir_ / "config.json", fn);
  }
  // Points tensor `name` at zero bytes appended to the data, stored as `dtype` with `shape`.
  void restore(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
               size_t bytes) const {
    json h;
    std::string d;
    read(&h, &d);
    h[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {d.size(), d.size() + bytes}}};
    d.append(bytes, '\0');
    write(h, d);
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

// torch_dtype says what the model was saved as; it does not bind the tensors (transformers
// converts per tensor on load): F32 tensors under a bfloat16 config load.
TEST_F(BrokenCheckpoint, TorchDtypeDescribesTheModelOnly) {
  edit_config([](json& c) { c["torch_dtype"] = "bfloat16"; });
  const Model m = load_model(dir_.string());
  EXPECT_EQ(m.cfg.dtype, "bfloat16");
  EXPECT_EQ(stored_dtypes(m), "F32");
  EXPECT_EQ(m.embed.dtype, DType::F32);
}

TEST_F(BrokenCheckpoint, DtypeKeyVariants) {
  edit_config([](json& c) { c.erase("torch_dtype"); });
  EXPECT_EQ(load_model(dir_.string()).cfg.dtype, "float32");  // from the weights
  edit_config([](json& c) { c["dtype"] = "float16"; });         // newer transformers' key
  EXPECT_EQ(load_model(dir_.string()).cfg.dtype, "float16");
}

// A used tensor in a dtype no backend converts: refused by name, whatever the config says.
TEST_F(BrokenCheckpoint, UnreadableTensorDtype) {
  struct Case {
    const char* tensor;
    const char* dtype;
    std::vector<int64_t> shape;
    size_t bytes;
  };
  for (const Case& k : {Case{"model.norm.weight", "I64", {64}, 64 * 8},
                        Case{"model.layers.1.self_attn.q_proj.weight", "F8_E4M3", {64, 64}, 64 * 64},
                        Case{"model.embed_tokens.weight", "BOOL", {2048, 64}, 2048 * 64},
                        Case{"model.layers.0.mlp.down_proj.weight", "F4", {64, 128}, 64 * 128 / 2}}) {
    fs::copy_file(fs::path(src_) / "model.safetensors", file(),
                  fs::copy_options::overwrite_existing);
    restore(k.tensor, k.dtype, k.shape, k.bytes);
    const std::string e = load_error();
    EXPECT_HAS(e, file());
    EXPECT_HAS(e, std::string("tensor '") + k.tensor + "'");
    EXPECT_HAS(e, std::string("expected one of F32, BF16, F16, got ") + k.dtype);
  }
}

// Not a safetensors dtype at all: its byte size is unknown, so the header is refused.
TEST_F(BrokenCheckpoint, UnknownDtypeString) {
  json h;
  std::string d;
  read(&h, &d);
  h["model.norm.weight"]["dtype"] = "Q4_K";
  write(h, d);
  const std::string e = load_error();
  EXPECT_HAS(e, file());
  EXPECT_HAS(e, "model.norm.weight");
  EXPECT_HAS(e, "unknown dtype");
  EXPECT_HAS(e, "got Q4_K");
}

// The header is checked in every dtype's own element size, 4-bit ones included.
TEST_F(BrokenCheckpoint, SpanCheckedInStoredDtype) {
  restore("model.norm.weight", "I64", {64}, 64 * 4);  // F32's byte count, not I64's
  EXPECT_HAS(load_error(), "expected " + std::to_string(64 * 8) + " bytes");
  restore("model.norm.weight", "F4", {63}, 32);  // an odd count of 4-bit elements
  EXPECT_HAS(load_error(), "63 elements of F4 do not fill whole bytes");
}

// A tensor the model does not use is refused in any dtype; the message says what it holds.
TEST_F(BrokenCheckpoint, UnusedTensorOfUnreadableDtype) {
  restore("model.layers.0.mlp.down_proj.weight_scale", "F8_E4M3", {64}, 64);
  const std::string e = load_error();
  EXPECT_HAS(e, file());
  EXPECT_HAS(e, "model.layers.0.mlp.down_proj.weight_scale' (F8_E4M3 [64])");
  EXPECT_HAS(e, "expected no such tensor");
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

// ---------------------------------------------------------------------------------------------
// Checkpoints stored in more than one dtype

// The tiny models' weights written again under torch_dtype bfloat16 (write_in_dtypes): once
// all BF16, once with tensors stored F32, BF16 and F16 in turn, as checkpoints saved from
// mixed-precision code can be.
class MixedDtypes : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { src_ = test_model(GetParam()); }
  void TearDown() override {
    for (const auto& d : dirs_) fs::remove_all(d);
  }

  std::string write_as(const std::string& tag, const std::vector<DType>& dtypes) {
    dirs_.push_back(scratch_dir(tag));
    write_in_dtypes(src_, dirs_.back(), dtypes);
    return dirs_.back().string();
  }

  std::string src_;
  std::vector<fs::path> dirs_;
};

// Logits of `ids`, one prefill step on a fresh CPU backend.
std::vector<std::vector<float>> prefill_logits(const Model& m, const std::vector<int>& ids) {
  CpuBackend be(m, 2);
  std::vector<int> blocks = {0, 1};
  be.init_kv(2, 16);
  std::vector<OutputRequest> outs;
  for (size_t i = 0; i < ids.size(); ++i) outs.push_back({0, static_cast<int>(i), true, {}});
  std::vector<std::vector<float>> res;
  be.forward({{&blocks, 0, ids}}, outs, &res);
  return res;
}

TEST_P(MixedDtypes, LoadAndGiveTheLogitsOfUniformStorage) {
  const Model uniform = load_model(write_as("bf16", {DType::BF16}));
  const Model mixed = load_model(write_as("mixed", {DType::F32, DType::BF16, DType::F16}));
  EXPECT_EQ(stored_dtypes(uniform), "BF16");
  EXPECT_EQ(stored_dtypes(mixed), "F16+BF16+F32");
  EXPECT_EQ(mixed.cfg.dtype, "bfloat16");
  EXPECT_EQ(mixed.num_params, uniform.num_params);
  const std::vector<int> ids = {1, 17, 300, 2000, 5, 5, 42, 1024, 7, 99, 640, 3, 1900, 12, 8, 256,
                                31, 77, 1500, 2};
  const auto want = prefill_logits(uniform, ids), got = prefill_logits(mixed, ids);
  ASSERT_EQ(got.size(), want.size());
  // The same fp32 weights either way, so the same arithmetic: equal to the bit.
  for (size_t r = 0; r < want.size(); ++r) EXPECT_EQ(got[r], want[r]) << "row " << r;
}

INSTANTIATE_TEST_SUITE_P(Archs, MixedDtypes,
                         ::testing::Values("tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-mixtral"),
                         [](const auto& info) { return info.param.substr(5); });

}  // namespace
}  // namespace bg
