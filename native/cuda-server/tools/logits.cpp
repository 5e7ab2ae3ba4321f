// brewgate-logits: full logits of a token sequence, for the parity test against reference.py.
//   brewgate-logits --model DIR --ids 1,2,3 --out FILE [--threads N] [--step N] [--scalar]
//                   [--backend cpu|cuda]   (cuda: builds with BREWGATE_CUDA=ON)
//                   [--weights f32|bf16|f16|int8]   (cpu; default f32, whatever the checkpoint)
//                   [--activations f32|bf16]   (cpu, bf16 weights: bf16 dot products)
// Writes float32 (T, V) row-major. --step feeds the sequence N tokens per forward call
// (1 = token-by-token decode through the KV cache); --scalar disables the AVX2 kernels.
// Unlike the sidecar, the weight type defaults to f32 for every checkpoint: the exact path.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <memory>

#include "cpu_backend.h"
#include "error.h"
#include "kernels.h"
#ifdef BREWGATE_WITH_CUDA
#include "cuda_backend.h"
#endif

int main(int argc, char** argv) {
  std::string model_dir, ids_s, out, backend = "cpu";
  bg::WeightType weights = bg::WeightType::F32;
  bool bf16_act = false;
  int threads = 2, step = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "brewgate-logits: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_dir = next();
    else if (a == "--ids") ids_s = next();
    else if (a == "--out") out = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--step") step = std::stoi(next());
    else if (a == "--scalar") bg::set_simd(false);
    else if (a == "--backend") backend = next();
    else if (a == "--weights") {
      const std::string v = next();
      if (!bg::weight_type_from_name(v, &weights)) {
        std::cerr << "brewgate-logits: --weights: expected f32, bf16, f16 or int8, got '" << v << "'\n";
        return 2;
      }
    }
    else if (a == "--activations") {
      const std::string v = next();
      if (!bg::activations_from_name(v, &bf16_act)) {
        std::cerr << "brewgate-logits: --activations: expected f32 or bf16, got '" << v << "'\n";
        return 2;
      }
    }
    else {
      std::cerr << "brewgate-logits: unknown flag " << a << "\n";
      return 2;
    }
  }
  if (model_dir.empty() || ids_s.empty() || out.empty()) {
    std::cerr << "usage: brewgate-logits --model DIR --ids 1,2,3 --out FILE\n";
    return 2;
  }
  try {
    std::vector<int> ids;
    std::stringstream ss(ids_s);
    for (std::string tok; std::getline(ss, tok, ',');) ids.push_back(std::stoi(tok));
    std::unique_ptr<bg::Backend> owned;
    if (backend == "cpu") {
      owned = std::make_unique<bg::CpuBackend>(bg::load_model(model_dir), threads, weights,
                                               bf16_act);
#ifdef BREWGATE_WITH_CUDA
    } else if (backend == "cuda") {
      owned = std::make_unique<bg::CudaBackend>(bg::load_model(model_dir));
#endif
    } else {
      std::cerr << "brewgate-logits: --backend " << backend << " is not part of this build\n";
      return 2;
    }
    bg::Backend& be = *owned;
    const int bt = 16, n = static_cast<int>(ids.size());
    const int nblocks = (n + bt - 1) / bt;
    be.init_kv(nblocks, bt);
    std::vector<int> blocks(nblocks);
    for (int i = 0; i < nblocks; ++i) blocks[i] = i;
    if (step <= 0) step = n;
    std::ofstream f(out, std::ios::binary);
    for (int s = 0; s < n; s += step) {
      const int e = std::min(n, s + step);
      std::vector<bg::SeqChunk> chunks{{&blocks, s, std::vector<int>(ids.begin() + s, ids.begin() + e)}};
      std::vector<bg::OutputRequest> outs;
      for (int i = 0; i < e - s; ++i) outs.push_back({0, i, true, {}});
      std::vector<std::vector<float>> res;
      be.forward(chunks, outs, &res);
      for (auto& r : res) f.write(reinterpret_cast<const char*>(r.data()), r.size() * 4);
    }
  } catch (const bg::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
