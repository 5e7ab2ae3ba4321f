// The gRPC face of the engine: parses protobuf into native requests, waits on the engine,
// and maps engine statuses to gRPC codes. No model work happens on gRPC threads.
#pragma once

#include <memory>
#include <string>

#include "engine.h"
#include "inference.grpc.pb.h"

namespace bg {

// What ModelInfo says about the loaded model besides its config.
struct ModelFacts {
  std::string id;                // the model directory's base name (Model::name)
  int64_t num_params = 0;
  std::string sha256;            // Model::sha256
  std::string tokenizer_sha256;  // Model::tokenizer_sha256
};

// Score and Generate read the caller's W3C `traceparent` metadata into the request (for the
// engine's log line) and count how each call ended in the engine's Metrics.
class InferenceService final : public brewgate::inference::v1::Inference::Service {
 public:
  // `default_timeout_ms` bounds requests that carry neither timeout_ms nor a gRPC deadline.
  InferenceService(Engine& engine, ModelFacts model, uint32_t default_timeout_ms = 600000);

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
  ModelFacts model_;
  uint32_t default_timeout_ms_;
};

// The PEM material of the server's TLS, read once at start. An empty cert_chain means
// plaintext (insecure credentials), as without the --tls-* flags.
struct ServerTls {
  std::string cert_chain;   // --tls-cert: the server certificate, then its intermediates
  std::string private_key;  // --tls-key
  std::string client_ca;    // --tls-client-ca: set, clients must present a certificate it signed
};

// Reads the files named by --tls-cert, --tls-key and --tls-client-ca (an empty name: not given).
// Throws Error naming the flag and the file when a file cannot be read or holds no PEM block of
// the kind expected, when only one of cert and key is given, or when --tls-client-ca comes
// without them. The certificate and key are parsed only when the server starts.
ServerTls read_server_tls(const std::string& cert_file, const std::string& key_file,
                          const std::string& client_ca_file);

// Builds and starts a server for `service` on `listen` ("host:port", port 0 picks one) with
// gRPC's standard health service marked SERVING, over TLS when `tls` has a certificate (mutual
// TLS when it also has a client CA). Returns null if the address cannot be bound or gRPC refuses
// the certificate or key; *port receives the bound port.
std::unique_ptr<grpc::Server> start_server(InferenceService& service, const std::string& listen,
                                           int* port, const ServerTls& tls = {});

}  // namespace bg
