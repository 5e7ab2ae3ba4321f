// The outcome of a request as the engine and the server know it; server.cpp maps it to gRPC
// status codes, metrics.cpp to the `outcome` label.
#pragma once

#include <string>

namespace bg {

enum class Code { Ok, InvalidArgument, ResourceExhausted, DeadlineExceeded, Cancelled, Unavailable };
inline constexpr int kCodes = 6;

struct Status {
  Code code = Code::Ok;
  std::string message;
  bool ok() const { return code == Code::Ok; }
};

}  // namespace bg
