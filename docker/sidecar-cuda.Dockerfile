# syntax=docker/dockerfile:1
# The inference sidecar with the CUDA backend (sm_80 and sm_90a: A100, H100, H200). Build from
# the repository root (no GPU needed to build):
#   docker build -f docker/sidecar-cuda.Dockerfile -t brewgate/sidecar-cuda:0.1.0 .
# CUDA 13.0.2, the toolkit CI compiles with; NVIDIA publishes it on Ubuntu, not Debian, so both
# stages are Ubuntu 24.04, whose gRPC (1.51) and protobuf (3.21) match Debian 12's.

# ---- build: the sidecar's build dependencies, then the script CI runs ----
FROM nvidia/cuda:13.0.2-devel-ubuntu24.04 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates cmake g++ make pkg-config \
      libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev \
      nlohmann-json3-dev libgtest-dev libssl-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY proto ./proto
COPY native/cuda-server ./native/cuda-server
RUN native/cuda-server/scripts/build-cuda.sh --target brewgate-sidecar

# ---- runtime: cudart comes with the image; gRPC and protobuf from Ubuntu ----
FROM nvidia/cuda:13.0.2-runtime-ubuntu24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51t64 libprotobuf32t64 libssl3t64 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin brewgate
COPY --from=build /src/native/cuda-server/build-cuda/brewgate-sidecar /usr/local/bin/brewgate-sidecar
USER 10001:10001
# 50051: gRPC (Inference + grpc.health.v1.Health); 9400: Prometheus metrics (--metrics-listen).
EXPOSE 50051 9400
ENTRYPOINT ["/usr/local/bin/brewgate-sidecar"]
# The checkpoint is not in the image: mount it at /models (Kubernetes: k8s/base/model-pvc.yaml).
CMD ["--model", "/models", "--listen", "0.0.0.0:50051", "--backend", "cuda"]
