#include "server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "error.h"
#include "trace_context.h"

namespace bg {

namespace pb = brewgate::inference::v1;

namespace {

grpc::Status to_grpc(const Status& s) {
  switch (s.code) {
    case Code::Ok: return grpc::Status::OK;
    case Code::InvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, s.message};
    case Code::ResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, s.message};
    case Code::DeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, s.message};
    case Code::Cancelled: return {grpc::StatusCode::CANCELLED, s.message};
    case Code::Unavailable: return {grpc::StatusCode::UNAVAILABLE, s.message};
  }
  return {grpc::StatusCode::INTERNAL, s.message};
}

// The earlier of the gRPC deadline and the request's own timeout, on the steady clock; the
// server default when neither is set, so every request has a deadline.
Clock::time_point deadline_of(const grpc::ServerContext* ctx, uint32_t timeout_ms,
                              uint32_t default_ms) {
  Clock::time_point d = Clock::time_point::max();
  const auto now_sys = std::chrono::system_clock::now();
  const auto g = ctx->deadline();
  if (g < now_sys + std::chrono::hours(24 * 365))
    d = Clock::now() + std::chrono::duration_cast<Clock::duration>(g - now_sys);
  if (timeout_ms > 0) d = std::min(d, Clock::now() + std::chrono::milliseconds(timeout_ms));
  if (d == Clock::time_point::max()) d = Clock::now() + std::chrono::milliseconds(default_ms);
  return d;
}

void fill_usage(const Usage& u, pb::Usage* out) {
  out->set_prompt_tokens(u.prompt);
  out->set_cached_tokens(u.cached);
  out->set_computed_tokens(u.computed);
  out->set_completion_tokens(u.completion);
}

void fill_timings(const Timings& t, pb::Timings* out) {
  out->set_queue_ms(t.queue_ms);
  out->set_prefill_ms(t.prefill_ms);
  out->set_decode_ms(t.decode_ms);
  out->set_total_ms(t.total_ms);
}

constexpr auto kPoll = std::chrono::milliseconds(20);

// The call's `traceparent` metadata; none when absent, malformed, or sent more than once.
TraceParent trace_of(const grpc::ServerContext& ctx) {
  const auto [first, end] = ctx.client_metadata().equal_range("traceparent");
  if (first == end || std::next(first) != end) return {};
  return parse_traceparent(std::string_view(first->second.data(), first->second.size()));
}

// Whether `pem` has a block labelled `label` ("CERTIFICATE"), or ending in it ("PRIVATE KEY"
// also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY").
bool has_pem_block(const std::string& pem, const std::string& label) {
  const std::string begin = "-----BEGIN ";
  for (size_t at = pem.find(begin); at != std::string::npos; at = pem.find(begin, at + 1)) {
    const size_t end = pem.find("-----", at + begin.size());
    if (end == std::string::npos) return false;
    const std::string got = pem.substr(at + begin.size(), end - at - begin.size());
    if (got == label || got.ends_with(" " + label)) return true;
  }
  return false;
}

// The contents of `file`, given on `flag`, which must hold a PEM block of kind `label`. The
// check only catches the wrong file given to a flag; gRPC parses the PEM when the server starts.
std::string read_pem(const std::string& flag, const std::string& file, const std::string& label) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(flag + ": cannot read '" + file + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  const std::string pem = text.str();
  if (!has_pem_block(pem, label))
    throw Error(flag + ": expected a PEM file with a " + label + " block in '" + file +
                "', got none");
  return pem;
}

}  // namespace

InferenceService::InferenceService(Engine& engine, ModelFacts model, uint32_t default_timeout_ms)
    : engine_(engine), model_(std::move(model)), default_timeout_ms_(default_timeout_ms) {}

grpc::Status InferenceService::Score(grpc::ServerContext* ctx, const pb::ScoreRequest* req,
                                     pb::ScoreResponse* resp) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Score;
  r->id = req->request_id();
  r->trace = trace_of(*ctx);
  r->deadline = deadline_of(ctx, req->timeout_ms(), default_timeout_ms_);
  ScoreSpec& s = r->score;
  s.prefix.assign(req->prefix_ids().begin(), req->prefix_ids().end());
  for (const auto& c : req->candidates()) s.candidates.emplace_back(c.ids().begin(), c.ids().end());
  for (const auto& l : req->labels()) s.labels.emplace_back(l.ids().begin(), l.ids().end());
  s.labels_only = req->normalize() == pb::LABELS_ONLY;
  Metrics& m = engine_.metrics();
  Status st = engine_.validate(*r);
  if (st.ok()) st = engine_.submit(r);
  if (!st.ok()) {
    m.request_done(Rpc::Score, st.code);
    return to_grpc(st);
  }
  while (!r->wait_finished(kPoll))
    if (ctx->IsCancelled()) r->cancel();
  m.request_done(Rpc::Score, r->status.code);
  if (!r->status.ok()) return to_grpc(r->status);
  for (int c = 0; c < req->candidates_size(); ++c) {
    auto* out = resp->add_candidates();
    out->set_id(req->candidates(c).id());
    for (float v : r->logprobs[c]) out->add_label_logprobs(v);
  }
  fill_usage(r->usage, resp->mutable_usage());
  fill_timings(r->timings, resp->mutable_timings());
  return grpc::Status::OK;
}

grpc::Status InferenceService::Generate(grpc::ServerContext* ctx, const pb::GenerateRequest* req,
                                        grpc::ServerWriter<pb::GenerateEvent>* writer) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Generate;
  r->id = req->request_id();
  r->trace = trace_of(*ctx);
  r->deadline = deadline_of(ctx, req->timeout_ms(), default_timeout_ms_);
  GenerateSpec& g = r->generate;
  g.prompt.assign(req->prompt_ids().begin(), req->prompt_ids().end());
  g.max_tokens = static_cast<int>(std::min<uint32_t>(req->max_tokens(), 1u << 30));
  g.sampling.temperature = req->temperature();
  g.sampling.top_k = static_cast<int>(std::min<uint32_t>(req->top_k(), 1u << 30));
  g.sampling.top_p = req->top_p() == 0.f ? 1.f : req->top_p();
  g.sampling.seed = req->seed();
  g.stop_ids.assign(req->stop_ids().begin(), req->stop_ids().end());
  Metrics& m = engine_.metrics();
  Status st = engine_.validate(*r);
  if (st.ok()) st = engine_.submit(r);
  if (!st.ok()) {
    m.request_done(Rpc::Generate, st.code);
    return to_grpc(st);
  }
  bool writable = true;
  for (;;) {
    GenEvent ev;
    if (!r->next_event(&ev, kPoll)) {
      if (ctx->IsCancelled()) r->cancel();
      continue;
    }
    if (!writable) {
      if (ev.done) break;
      continue;
    }
    pb::GenerateEvent out;
    if (ev.done) {
      auto* d = out.mutable_done();
      d->set_finish_reason(static_cast<pb::FinishReason>(static_cast<int>(ev.reason)));
      fill_usage(ev.usage, d->mutable_usage());
      fill_timings(ev.timings, d->mutable_timings());
    } else {
      out.mutable_token()->set_id(ev.token);
      out.mutable_token()->set_logprob(ev.logprob);
    }
    if (!writer->Write(out)) {
      // The client is gone: stop the work now, then drain until the engine confirms.
      writable = false;
      r->cancel();
    }
    if (ev.done) break;
  }
  if (r->status.code == Code::Unavailable) {
    m.request_done(Rpc::Generate, Code::Unavailable);
    return to_grpc(r->status);
  }
  if (!writable || ctx->IsCancelled()) {
    m.request_done(Rpc::Generate, Code::Cancelled);
    return {grpc::StatusCode::CANCELLED, "stream cancelled"};
  }
  // Done{DEADLINE} and Done{CANCELLED} (by Abort) end with status OK but count as what they are.
  m.request_done(Rpc::Generate, r->status.code);
  return grpc::Status::OK;
}

grpc::Status InferenceService::Abort(grpc::ServerContext*, const pb::AbortRequest* req,
                                     pb::AbortResponse* resp) {
  resp->set_found(!req->request_id().empty() && engine_.abort(req->request_id()));
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelInfo(grpc::ServerContext*, const pb::ModelInfoRequest*,
                                         pb::ModelInfoResponse* resp) {
  const ModelConfig& c = engine_.backend().config();
  resp->set_model_id(model_.id);
  resp->set_architecture(c.architecture);
  resp->set_vocab_size(static_cast<uint32_t>(c.vocab));
  resp->set_max_context(static_cast<uint32_t>(c.max_context));
  resp->set_bos_token_id(c.bos);
  resp->set_eos_token_id(c.eos.empty() ? -1 : c.eos[0]);
  for (int e : c.eos) resp->add_eos_token_ids(e);
  resp->set_dtype(c.dtype);
  resp->set_num_params(static_cast<uint64_t>(model_.num_params));
  resp->set_backend(engine_.backend().name());
  resp->set_kv_block_tokens(static_cast<uint32_t>(engine_.block_tokens()));
  resp->set_kv_blocks(static_cast<uint32_t>(engine_.total_blocks()));
  resp->set_tokenizer_sha256(model_.tokenizer_sha256);
  resp->set_model_sha256(model_.sha256);
  return grpc::Status::OK;
}

ServerTls read_server_tls(const std::string& cert_file, const std::string& key_file,
                          const std::string& client_ca_file) {
  if (cert_file.empty() != key_file.empty())
    throw Error(cert_file.empty() ? "--tls-key '" + key_file + "' needs --tls-cert"
                                  : "--tls-cert '" + cert_file + "' needs --tls-key");
  if (!client_ca_file.empty() && cert_file.empty())
    throw Error("--tls-client-ca '" + client_ca_file +
                "' needs --tls-cert and --tls-key (mutual TLS is on top of server TLS)");
  ServerTls tls;
  if (cert_file.empty()) return tls;
  tls.cert_chain = read_pem("--tls-cert", cert_file, "CERTIFICATE");
  tls.private_key = read_pem("--tls-key", key_file, "PRIVATE KEY");
  if (!client_ca_file.empty())
    tls.client_ca = read_pem("--tls-client-ca", client_ca_file, "CERTIFICATE");
  return tls;
}

std::unique_ptr<grpc::Server> start_server(InferenceService& service, const std::string& listen,
                                           int* port, const ServerTls& tls) {
  grpc::EnableDefaultHealthCheckService(true);
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!tls.cert_chain.empty()) {
    // With a client CA, the handshake fails for a client without a certificate it signed, so no
    // call from such a client reaches a handler.
    grpc::SslServerCredentialsOptions opts(
        tls.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = tls.client_ca;
    opts.pem_key_cert_pairs.push_back({tls.private_key, tls.cert_chain});
    creds = grpc::SslServerCredentials(opts);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, creds, port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || *port == 0) return nullptr;
  // The built-in service knows only the names it is told about; "" (overall) is implicit.
  server->GetHealthCheckService()->SetServingStatus(
      brewgate::inference::v1::Inference::service_full_name(), true);
  server->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

}  // namespace bg
