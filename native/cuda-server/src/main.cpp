// brewgate-sidecar: serves one model over gRPC (Inference + grpc.health.v1.Health).
//
//   brewgate-sidecar --model DIR [--listen 127.0.0.1:50051] [--threads N] [--kv-budget-mb M]
//                    [--max-batch R] [--max-batch-tokens T] [--block-tokens B]
//                    [--shutdown-grace-ms G] [--request-timeout-ms T] [--backend cpu|cuda]
//                    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
//                    [--metrics-listen HOST:PORT] [--weights f32|bf16|f16|int8]
//                    [--activations f32|bf16]
//
// --backend: cpu, or cuda in a build with BREWGATE_CUDA=ON (the default there when a CUDA
// device is present; cpu otherwise). --threads applies to the CPU backend, and so does
// --weights: how it holds the weights (cpu_backend.h; default bf16 or f16 for a checkpoint
// stored all in BF16 or F16, f32 otherwise), and --activations: bf16 rounds each linear
// layer's input to bf16 for bf16 dot products (bf16 weights only; faster, no longer exact).
// Prints "listening on ADDR" on stdout once the model is loaded and the port is bound; logs go
// to stderr. SIGTERM/SIGINT: health turns NOT_SERVING, new calls are refused, in-flight calls
// get up to --shutdown-grace-ms to finish and are then cancelled; exit status 0.
// --request-timeout-ms is the deadline of requests that set neither timeout_ms nor a gRPC
// deadline (default 10 minutes).
// --tls-cert/--tls-key (PEM certificate chain and private key) serve over TLS instead of
// plaintext; --tls-client-ca (PEM CA bundle) adds mutual TLS: a client must present a
// certificate that CA signed, or its handshake fails. The files are read before the model is
// loaded, so a missing one stops the sidecar at once (exit 1, naming the flag and the file).
// --metrics-listen serves GET /metrics (Prometheus text format, metrics.h) over plain HTTP on
// its own port, bound before the model loads (port 0 picks one; stderr names it).
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "cpu_backend.h"
#ifdef BREWGATE_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda_backend.h"
#endif
#include "engine.h"
#include "error.h"
#include "server.h"

namespace {

int g_sig_fd = -1;

void on_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = write(g_sig_fd, &b, 1);
}

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "brewgate-sidecar: " << msg << "\n"
            << "usage: brewgate-sidecar --model DIR [--listen HOST:PORT] [--threads N]\n"
               "         [--kv-budget-mb M] [--max-batch R] [--max-batch-tokens T]\n"
               "         [--block-tokens B] [--shutdown-grace-ms G] [--request-timeout-ms T]\n"
               "         [--backend cpu|cuda]\n"
               "         [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n"
               "         [--metrics-listen HOST:PORT] [--weights f32|bf16|f16|int8]\n"
               "         [--activations f32|bf16]\n"
               "  --tls-cert, --tls-key: PEM server certificate chain and private key: serve TLS\n"
               "  --tls-client-ca: PEM CA bundle: clients must present a certificate it signed\n"
               "                   (mutual TLS)\n"
               "  --metrics-listen: serve Prometheus metrics at http://HOST:PORT/metrics\n"
               "  --weights: the CPU backend's weight type (default: bf16 or f16 for\n"
               "             checkpoints stored all in BF16 or F16, f32 otherwise)\n"
               "  --activations: f32 (default, exact) or bf16 (bf16 weights only: linear\n"
               "                 layers round their input to bf16 for bf16 dot products)\n";
  std::exit(2);
}

// Bytes as MiB with two decimals.
std::string mib(size_t bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << bytes / 1048576.0;
  return s.str();
}

long parse_int(const std::string& flag, const std::string& v, long lo, long hi) {
  size_t pos = 0;
  long x = 0;
  try {
    x = std::stol(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (v.empty() || pos != v.size() || x < lo || x > hi)
    usage_error(flag + ": expected an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + v + "'");
  return x;
}

bool cuda_device_present() {
#ifdef BREWGATE_WITH_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, listen = "127.0.0.1:50051", backend_name;
  std::string tls_cert, tls_key, tls_client_ca, metrics_listen, weights_name,
      activations_name = "f32";
  const unsigned hw = std::thread::hardware_concurrency();
  long threads = hw ? hw : 1, kv_mb = 1024, max_batch = 64, max_batch_tokens = 512,
       block_tokens = 16, grace_ms = 5000, timeout_ms = 600000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") usage_error("help");
    if (i + 1 >= argc) usage_error(a + ": missing value");
    const std::string v = argv[++i];
    if (a == "--model") model_dir = v;
    else if (a == "--listen") listen = v;
    else if (a == "--threads") threads = parse_int(a, v, 1, 1024);
    else if (a == "--kv-budget-mb") kv_mb = parse_int(a, v, 1, 1L << 20);
    else if (a == "--max-batch") max_batch = parse_int(a, v, 1, 1 << 16);
    else if (a == "--max-batch-tokens") max_batch_tokens = parse_int(a, v, 1, 1 << 20);
    else if (a == "--block-tokens") block_tokens = parse_int(a, v, 1, 1024);
    else if (a == "--shutdown-grace-ms") grace_ms = parse_int(a, v, 0, 3600000);
    else if (a == "--request-timeout-ms") timeout_ms = parse_int(a, v, 1, 86400000);
    else if (a == "--backend") backend_name = v;
    else if (a == "--tls-cert") tls_cert = v;
    else if (a == "--tls-key") tls_key = v;
    else if (a == "--tls-client-ca") tls_client_ca = v;
    else if (a == "--metrics-listen") metrics_listen = v;
    else if (a == "--weights") weights_name = v;
    else if (a == "--activations") activations_name = v;
    else usage_error("unknown flag " + a);
  }
  if (model_dir.empty()) usage_error("--model is required");
  if (block_tokens % 16 != 0)
    usage_error("--block-tokens: expected a multiple of 16, got " + std::to_string(block_tokens));
  if (!std::filesystem::is_directory(model_dir))
    usage_error("--model: '" + model_dir + "' is not a directory");
  if (backend_name.empty()) backend_name = cuda_device_present() ? "cuda" : "cpu";
#ifdef BREWGATE_WITH_CUDA
  if (backend_name != "cpu" && backend_name != "cuda")
    usage_error("--backend: expected cpu or cuda, got '" + backend_name + "'");
  if (backend_name == "cuda" && !cuda_device_present()) {
    std::cerr << "brewgate-sidecar: --backend cuda: no CUDA device\n";
    return 1;
  }
#else
  if (backend_name != "cpu")
    usage_error("--backend: expected cpu (this build has no CUDA backend; build with "
                "-DBREWGATE_CUDA=ON), got '" + backend_name + "'");
#endif
  bg::WeightType weights = bg::WeightType::F32;
  if (!weights_name.empty()) {
    if (!bg::weight_type_from_name(weights_name, &weights))
      usage_error("--weights: expected f32, bf16, f16 or int8, got '" + weights_name + "'");
    if (backend_name != "cpu")
      usage_error("--weights applies to the cpu backend; the " + backend_name +
                  " backend holds bf16 weights");
  }
  bool bf16_act = false;
  if (!bg::activations_from_name(activations_name, &bf16_act))
    usage_error("--activations: expected f32 or bf16, got '" + activations_name + "'");
  if (bf16_act && backend_name != "cpu")
    usage_error("--activations applies to the cpu backend");
  if (bf16_act && !weights_name.empty() && weights != bg::WeightType::BF16)
    usage_error("--activations bf16 needs --weights bf16, got --weights " + weights_name);
  if (listen.find(':') == std::string::npos)
    usage_error("--listen: expected HOST:PORT, got '" + listen + "'");
  if (!metrics_listen.empty() && metrics_listen.find(':') == std::string::npos)
    usage_error("--metrics-listen: expected HOST:PORT, got '" + metrics_listen + "'");
  if (tls_cert.empty() != tls_key.empty())
    usage_error(tls_cert.empty() ? "--tls-key '" + tls_key + "' needs --tls-cert"
                                 : "--tls-cert '" + tls_cert + "' needs --tls-key");
  if (!tls_client_ca.empty() && tls_cert.empty())
    usage_error("--tls-client-ca needs --tls-cert and --tls-key");
  // Read before the model loads (which can take minutes), so a wrong path fails at once.
  bg::ServerTls tls;
  try {
    tls = bg::read_server_tls(tls_cert, tls_key, tls_client_ca);
  } catch (const bg::Error& e) {
    std::cerr << "brewgate-sidecar: cannot set up TLS: " << e.what() << "\n";
    return 1;
  }

  // gRPC starts threads of its own (some before main), so blocking signals and sigwait-ing
  // cannot catch them reliably. A handler on every thread writes to a pipe instead, and one
  // thread reads it and shuts down.
  int sig_pipe[2];
  if (pipe(sig_pipe) != 0) {
    std::perror("brewgate-sidecar: pipe");
    return 1;
  }
  g_sig_fd = sig_pipe[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // Bound before the model loads, like the TLS files read above: a port in use fails at once,
  // and a scrape during a long load finds the process up.
  auto metrics = std::make_shared<bg::Metrics>();
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
    } catch (const std::exception& e) {
      std::cerr << "brewgate-sidecar: cannot listen on " << metrics_listen
                << " for --metrics-listen: " << e.what() << "\n";
      return 1;
    }
    exposer->RegisterCollectable(metrics->registry());
    const std::vector<int> ports = exposer->GetListeningPorts();
    std::cerr << "metrics: http://" << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":"
              << (ports.empty() ? 0 : ports[0]) << "/metrics\n";
  }

  std::unique_ptr<bg::Backend> backend;
  size_t weight_bytes = 0;  // the CPU backend's packed weights
  std::unique_ptr<bg::Engine> engine;
  bg::ModelFacts facts;
  try {
    {
      const auto t0 = std::chrono::steady_clock::now();
      const bg::Model model = bg::load_model(model_dir);
#ifdef BREWGATE_WITH_CUDA
      if (backend_name == "cuda") {
        backend = std::make_unique<bg::CudaBackend>(model);  // bf16 copy on the device
      } else
#endif
      {
        if (weights_name.empty()) weights = bg::default_weight_type(model);
        auto cpu =
            std::make_unique<bg::CpuBackend>(model, static_cast<int>(threads), weights, bf16_act);
        weight_bytes = cpu->weight_bytes();
        backend = std::move(cpu);
      }
      std::cerr << "loaded " << model.cfg.architecture << " from " << model_dir << ": "
                << model.num_params << " params stored as " << bg::stored_dtypes(model)
                << " (torch_dtype " << model.cfg.dtype << "), for the " << backend->name()
                << " backend in "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                << " s\n";
      facts = {model.name, model.num_params, model.sha256, model.tokenizer_sha256};
    }  // the checkpoint is unmapped here: the backend holds its own copy of the weights
    bg::EngineOptions opt;
    opt.block_tokens = static_cast<int>(block_tokens);
    opt.kv_budget_bytes = static_cast<size_t>(kv_mb) << 20;
    opt.max_active = static_cast<int>(max_batch);
    opt.max_batch_tokens = static_cast<int>(max_batch_tokens);
    opt.log = true;
    opt.metrics = metrics;
    engine = std::make_unique<bg::Engine>(*backend, opt);
    std::cerr << "kv: " << engine->total_blocks() << " blocks of " << block_tokens
              << " tokens; backend " << backend->name();
    if (backend_name == "cpu")
      std::cerr << "; simd "
                << (bg::avx512_enabled() ? "avx512" : bg::simd_enabled() ? "avx2+fma" : "scalar")
                << "; threads " << threads << "; weights " << bg::weight_type_name(weights)
                << " (" << mib(weight_bytes) << " MiB)"
                << "; activations "
                << (!bf16_act                 ? "f32"
                    : bg::bf16_dot_enabled() ? "bf16 (avx512-bf16 dot products)"
                                             : "bf16 (rounded, fma kernels)");
    std::cerr << "\n";
  } catch (const bg::Error& e) {
    std::cerr << "brewgate-sidecar: cannot load model: " << e.what() << "\n";
    return 1;
  }
  bg::InferenceService service(*engine, facts, static_cast<uint32_t>(timeout_ms));
  int port = 0;
  std::unique_ptr<grpc::Server> server = bg::start_server(service, listen, &port, tls);
  if (!server) {
    std::cerr << "brewgate-sidecar: cannot listen on " << listen;
    // gRPC refuses a certificate or key it cannot parse, or a key of another certificate, only
    // here, with its reason in its own log line above.
    if (!tls_cert.empty())
      std::cerr << " with TLS (is '" << tls_key << "' the key of '" << tls_cert << "'?)";
    std::cerr << "\n";
    return 1;
  }
  if (!tls_cert.empty())
    std::cerr << "tls: certificate " << tls_cert
              << (tls_client_ca.empty() ? std::string("; client certificates not requested")
                                        : "; clients must present a certificate signed by " +
                                              tls_client_ca)
              << "\n";
  auto* health = server->GetHealthCheckService();
  std::string addr = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  std::cout << "listening on " << addr << std::endl;

  std::thread signals([&] {
    unsigned char sig = 0;
    while (read(sig_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig == 0) return;  // the pipe was closed: the server stopped on its own
    std::cerr << "signal " << static_cast<int>(sig) << ": shutting down\n";
    health->SetServingStatus(false);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  });
  server->Wait();
  engine->shutdown();
  close(sig_pipe[1]);
  signals.join();
  std::cerr << "stopped\n";
  return 0;
}
