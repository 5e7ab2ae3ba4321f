# syntax=docker/dockerfile:1
# The inference sidecar with the CPU backend. Build from the repository root:
#   docker build -f docker/sidecar-cpu.Dockerfile -t brewgate/sidecar-cpu:0.1.0 .
# Debian 12 in both stages: the same gRPC 1.51 and protobuf 3.21 that CI builds and tests with.

# ---- build: the packages native/cuda-server/CMakeLists.txt finds, then the script CI runs ----
FROM debian:12.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates cmake g++ make pkg-config \
      libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev \
      nlohmann-json3-dev libgtest-dev libssl-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# CMake generates the gRPC code from the repository's proto/ (../../proto from the sidecar).
COPY proto ./proto
COPY native/cuda-server ./native/cuda-server
RUN native/cuda-server/scripts/build.sh --target brewgate-sidecar

# ---- runtime: the shared libraries the binary links, and the binary ----
FROM debian:12.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libssl3 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin brewgate
COPY --from=build /src/native/cuda-server/build/brewgate-sidecar /usr/local/bin/brewgate-sidecar
USER 10001:10001
# 50051: gRPC (Inference + grpc.health.v1.Health); 9400: Prometheus metrics (--metrics-listen).
EXPOSE 50051 9400
ENTRYPOINT ["/usr/local/bin/brewgate-sidecar"]
# The checkpoint is not in the image: mount it at /models (Kubernetes: k8s/base/model-pvc.yaml).
CMD ["--model", "/models", "--listen", "0.0.0.0:50051", "--backend", "cpu"]
