// The gRPC face of the engine: parses protobuf into native requests, waits on the engine,
// and maps engine statuses to gRPC codes. No model work happens on gRPC threads.
#pragma once

#include <memory>
#include <string>

#include "engine.h"
#include "inference.grpc.pb.h"

namespace bg {

class InferenceService final : public brewgate::inference::v1::Inference::Service {
 public:
  // `default_timeout_ms` bounds requests that carry neither timeout_ms nor a gRPC deadline.
  InferenceService(Engine& engine, std::string model_id, int64_t num_params,
                   uint32_t default_timeout_ms = 600000);

  grpc::Status Score(grpc::ServerContext* ctx, const brewgate::inference::v1::ScoreRequest* req,
                     brewgate::inference::v1::ScoreResponse* resp) override;
  grpc::Status Generate(grpc::ServerContext* ctx,
                        const brewgate::inference::v1::GenerateRequest* req,
                        grpc::ServerWriter<brewgate::inference::v1::GenerateEvent>* writer) override;
  grpc::Status Abort(grpc::ServerContext* ctx, const brewgate::inference::v1::AbortRequest* req,
                     brewgate::inference::v1::AbortResponse* resp) override;
  grpc::Status ModelInfo(grpc::ServerContext* ctx,
                         const brewgate::inference::v1::ModelInfoRequest* req,
                         brewgate::inference::v1::ModelInfoResponse* resp) override;

 private:
  Engine& engine_;
  std::string model_id_;
  int64_t num_params_;
  uint32_t default_timeout_ms_;
};

// Builds and starts a server for `service` on `listen` ("host:port", port 0 picks one) with
// gRPC's standard health service marked SERVING. Returns null if the address cannot be bound;
// *port receives the bound port.
std::unique_ptr<grpc::Server> start_server(InferenceService& service, const std::string& listen,
                                           int* port);

}  // namespace bg
