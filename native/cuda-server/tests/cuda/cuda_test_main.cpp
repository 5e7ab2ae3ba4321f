// GPU test entry point: refuses clearly, before any test, where there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdio>

int main(int argc, char** argv) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    std::fprintf(stderr, "brewgate-cuda-tests: no CUDA device (%s)\n",
                 e != cudaSuccess ? cudaGetErrorString(e) : "device count 0");
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
