// W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` a caller sends in
// its gRPC metadata, kept so the sidecar's request log lines join the caller's trace.
#pragma once

#include <string>
#include <string_view>

namespace bg {

struct TraceParent {
  std::string trace_id;  // 32 lowercase hex digits, not all zero; empty: none (or malformed)
  std::string span_id;   // 16 lowercase hex digits, not all zero: the caller's span
  bool present() const { return !trace_id.empty(); }
};

// Parses "VV-TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT-SSSSSSSSSSSSSSSS-FF" (version, trace id, parent
// span id, flags; lowercase hex). Anything malformed gives an empty TraceParent, which the spec
// says to treat as no traceparent: uppercase hex, version ff, an all-zero id, a version 00 value
// of another length. Versions after 00 may append "-..." fields, which are ignored.
TraceParent parse_traceparent(std::string_view v);

}  // namespace bg
