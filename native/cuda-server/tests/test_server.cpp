// gRPC end to end, in process: a real server on a loopback port and the generated stubs, the
// way the gateway calls it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "cpu_backend.h"
#include "engine.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference.grpc.pb.h"
#include "metrics_probe.h"
#include "server.h"
#include "sha256.h"
#include "test_models.h"

namespace bg {
namespace {

namespace pb = brewgate::inference::v1;
namespace hv = grpc::health::v1;
using namespace std::chrono_literals;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start(false); }
  void start(bool log) {
    const Model m = load_model(test_model("tiny-llama"));
    be_ = std::make_unique<CpuBackend>(m, 2);
    EngineOptions o;
    o.kv_budget_bytes = 64 << 20;
    o.log = log;
    engine_ = std::make_unique<Engine>(*be_, o);
    service_ = std::make_unique<InferenceService>(
        *engine_, ModelFacts{m.name, m.num_params, m.sha256, m.tokenizer_sha256});
    int port = 0;
    server_ = start_server(*service_, "127.0.0.1:0", &port);
    ASSERT_TRUE(server_);
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                  grpc::InsecureChannelCredentials());
    stub_ = pb::Inference::NewStub(ch);
    health_ = hv::Health::NewStub(ch);
  }
  void TearDown() override { stop(); }
  void stop() {
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    engine_->shutdown();
  }
  double requests(const char* rpc, const char* outcome) {
    return metric(engine_->metrics(), "brewgate_sidecar_requests_total",
                  {{"rpc", rpc}, {"outcome", outcome}});
  }
  void wait_requests(const char* rpc, const char* outcome, double want) {
    for (int i = 0; i < 200 && requests(rpc, outcome) != want; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(requests(rpc, outcome), want) << rpc << " " << outcome;
  }
  pb::ScoreRequest score_request() {
    pb::ScoreRequest r;
    for (int i = 0; i < 40; ++i) r.add_prefix_ids(i * 5 + 1);
    for (int c = 0; c < 3; ++c) {
      auto* cand = r.add_candidates();
      cand->set_id("job-" + std::to_string(c));
      for (int i = 0; i <= c * 3; ++i) cand->add_ids(700 + c * 10 + i);
    }
    auto* a = r.add_labels();
    a->set_name("apply");
    a->add_ids(10);
    auto* v = r.add_labels();
    v->set_name("view");
    v->add_ids(11);
    v->add_ids(12);
    return r;
  }
  void wait_kv_idle() {
    for (int i = 0; i < 200; ++i) {
      if (engine_->free_blocks() + engine_->cached_blocks() == engine_->total_blocks()) return;
      std::this_thread::sleep_for(5ms);
    }
    ADD_FAILURE() << "KV blocks not freed: free " << engine_->free_blocks() << " cached "
                  << engine_->cached_blocks() << " total " << engine_->total_blocks();
  }
  std::unique_ptr<CpuBackend> be_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Inference::Stub> stub_;
  std::unique_ptr<hv::Health::Stub> health_;
};

TEST_F(ServerTest, HealthAndModelInfo) {
  for (const char* svc : {"", "brewgate.inference.v1.Inference"}) {
    grpc::ClientContext ctx;
    hv::HealthCheckRequest req;
    req.set_service(svc);
    hv::HealthCheckResponse resp;
    ASSERT_TRUE(health_->Check(&ctx, req, &resp).ok()) << svc;
    EXPECT_EQ(resp.status(), hv::HealthCheckResponse::SERVING);
  }
  grpc::ClientContext ctx;
  pb::ModelInfoResponse info;
  ASSERT_TRUE(stub_->ModelInfo(&ctx, {}, &info).ok());
  EXPECT_EQ(info.architecture(), "LlamaForCausalLM");
  EXPECT_EQ(info.vocab_size(), 2048u);
  EXPECT_EQ(info.max_context(), 4096u);
  EXPECT_EQ(info.bos_token_id(), 2045);
  EXPECT_EQ(info.eos_token_id(), 2046);
  EXPECT_EQ(info.dtype(), "float32");
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_EQ(info.model_id(), "tiny-llama");
  EXPECT_EQ(info.tokenizer_sha256(), sha256_file(test_model("tiny-llama") + "/tokenizer.json"));
  EXPECT_EQ(info.model_sha256(), load_model(test_model("tiny-llama")).sha256);
  EXPECT_EQ(info.model_sha256().size(), 64u);
}

TEST_F(ServerTest, ScoreReturnsOneLogprobPerLabel) {
  grpc::ClientContext ctx;
  pb::ScoreResponse resp;
  auto req = score_request();
  ASSERT_TRUE(stub_->Score(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.candidates_size(), 3);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(resp.candidates(c).id(), "job-" + std::to_string(c));
    ASSERT_EQ(resp.candidates(c).label_logprobs_size(), 2);
    for (float lp : resp.candidates(c).label_logprobs()) EXPECT_TRUE(std::isfinite(lp) && lp < 0);
  }
  EXPECT_EQ(resp.usage().prompt_tokens(), 40u + 1 + 4 + 7 + 3);
  EXPECT_EQ(resp.usage().cached_tokens(), 0u);
  grpc::ClientContext ctx2;
  pb::ScoreResponse again;
  ASSERT_TRUE(stub_->Score(&ctx2, req, &again).ok());
  EXPECT_EQ(again.usage().cached_tokens(), 32u);
  for (int c = 0; c < 3; ++c)
    for (int l = 0; l < 2; ++l)
      EXPECT_NEAR(again.candidates(c).label_logprobs(l), resp.candidates(c).label_logprobs(l), 1e-5);
  EXPECT_EQ(requests("score", "ok"), 2);
  EXPECT_EQ(requests("generate", "ok"), 0);
}

TEST_F(ServerTest, ScoreErrorsMapToStatusCodes) {
  auto req = score_request();
  req.mutable_candidates(1)->set_ids(0, 5000);
  grpc::ClientContext ctx;
  pb::ScoreResponse resp;
  auto st = stub_->Score(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("candidates[1].ids[0] = 5000"), std::string::npos);
  req = score_request();
  req.clear_labels();
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->Score(&ctx2, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req = score_request();
  req.set_normalize(pb::LABELS_ONLY);  // "view" has two tokens
  grpc::ClientContext ctx3;
  EXPECT_EQ(stub_->Score(&ctx3, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(requests("score", "invalid"), 3);
  EXPECT_EQ(requests("score", "ok"), 0);
}

TEST_F(ServerTest, GenerateStreamsTokensThenDone) {
  pb::GenerateRequest req;
  for (int i = 0; i < 10; ++i) req.add_prompt_ids(i + 100);
  req.set_max_tokens(5);
  req.set_temperature(0.8f);
  req.set_top_k(50);
  req.set_top_p(0.9f);
  req.set_seed(3);
  auto collect = [&] {
    grpc::ClientContext ctx;
    auto reader = stub_->Generate(&ctx, req);
    std::vector<pb::GenerateEvent> evs;
    pb::GenerateEvent ev;
    while (reader->Read(&ev)) evs.push_back(ev);
    EXPECT_TRUE(reader->Finish().ok());
    return evs;
  };
  auto a = collect(), b = collect();
  EXPECT_EQ(requests("generate", "ok"), 2);
  ASSERT_GE(a.size(), 2u);
  ASSERT_TRUE(a.back().has_done());
  EXPECT_TRUE(a.back().done().finish_reason() == pb::LENGTH ||
              a.back().done().finish_reason() == pb::STOP);
  EXPECT_EQ(a.back().done().usage().completion_tokens(), a.size() - 1);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    ASSERT_TRUE(a[i].has_token());
    EXPECT_EQ(a[i].token().id(), b[i].token().id());  // same seed, same tokens
    EXPECT_LE(a[i].token().logprob(), 0.f);
  }
}

TEST_F(ServerTest, ClientCancelFreesKv) {
  pb::GenerateRequest req;
  for (int i = 0; i < 100; ++i) req.add_prompt_ids(i + 1);
  req.set_max_tokens(3000);
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, req);
  pb::GenerateEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  ctx.TryCancel();
  while (reader->Read(&ev)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  wait_kv_idle();
  wait_requests("generate", "cancelled", 1);
}

TEST_F(ServerTest, AbortEndsStreamWithCancelled) {
  pb::GenerateRequest req;
  req.set_request_id("explain-1");
  for (int i = 0; i < 10; ++i) req.add_prompt_ids(i + 1);
  req.set_max_tokens(3000);
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, req);
  pb::GenerateEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  grpc::ClientContext actx;
  pb::AbortRequest areq;
  areq.set_request_id("explain-1");
  pb::AbortResponse aresp;
  ASSERT_TRUE(stub_->Abort(&actx, areq, &aresp).ok());
  EXPECT_TRUE(aresp.found());
  pb::GenerateEvent last;
  while (reader->Read(&ev)) last = ev;
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(last.has_done());
  EXPECT_EQ(last.done().finish_reason(), pb::CANCELLED);
  EXPECT_EQ(requests("generate", "cancelled"), 1);  // status OK, but cancelled by Abort
  EXPECT_EQ(requests("generate", "ok"), 0);
  grpc::ClientContext actx2;
  ASSERT_TRUE(stub_->Abort(&actx2, areq, &aresp).ok());
  EXPECT_FALSE(aresp.found());
  wait_kv_idle();
}

TEST_F(ServerTest, ScoreDeadline) {
  auto req = score_request();
  req.set_timeout_ms(1);
  for (int i = 0; i < 3000; ++i) req.add_prefix_ids(i % 2000);
  grpc::ClientContext ctx;
  pb::ScoreResponse resp;
  EXPECT_EQ(stub_->Score(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  wait_kv_idle();
  EXPECT_EQ(requests("score", "deadline"), 1);
}

// The engine's log line carries the caller's traceparent; a malformed one is left out.
TEST_F(ServerTest, LogLineCarriesTraceContext) {
  stop();
  start(/*log=*/true);
  auto call = [&](const char* traceparent) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("traceparent", traceparent);
    pb::ScoreResponse resp;
    auto req = score_request();
    req.set_request_id("traced");
    ::testing::internal::CaptureStderr();
    const bool ok = stub_->Score(&ctx, req, &resp).ok();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(ok);
    return log;
  };
  const std::string good = call("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_NE(good.find("score id=traced "), std::string::npos) << good;
  EXPECT_NE(good.find(" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n"),
            std::string::npos)
      << good;
  const std::string bad = call("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
  EXPECT_NE(bad.find("score id=traced "), std::string::npos) << bad;
  EXPECT_NE(bad.find(" trace_id=- span_id=-\n"), std::string::npos) << bad;
}

}  // namespace
}  // namespace bg
