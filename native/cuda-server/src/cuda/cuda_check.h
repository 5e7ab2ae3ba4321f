// CUDA error checks that name the call site (llm.c's cudaCheck): every runtime call and every
// launch is checked, because a failed launch otherwise surfaces later, somewhere unrelated.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "error.h"

namespace bg {

inline void cuda_check(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess)
    throw Error(std::string(file) + ":" + std::to_string(line) + ": " + what + " failed: " +
                cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace bg

#define cudaCheck(call) ::bg::cuda_check((call), #call, __FILE__, __LINE__)
// After a launch: catches bad configurations at once (not faults, which surface at the sync).
#define cudaCheckLaunch() ::bg::cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
