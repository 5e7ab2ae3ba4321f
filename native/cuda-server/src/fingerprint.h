// The fingerprint of a checkpoint that ModelInfo.model_sha256 reports, taken at load without
// reading the weights (proto/inference.proto says exactly what it covers).
#pragma once

#include <string>

#include "safetensors.h"

namespace bg {

// Lowercase hex SHA-256 over config.json (its length as a little-endian uint64, then its bytes),
// then every safetensors file's first 8 + N bytes (header length and header JSON), in byte
// order of the files' paths. Throws Error naming config.json when it cannot be read.
std::string model_sha256(const std::string& config_file, const Checkpoint& ck);

}  // namespace bg
