#include "trace_context.h"

namespace bg {

namespace {

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

TraceParent parse_traceparent(std::string_view v) {
  constexpr size_t kLen = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (v.size() < kLen || v[2] != '-' || v[35] != '-' || v[52] != '-') return {};
  const std::string_view version = v.substr(0, 2), trace = v.substr(3, 32),
                         span = v.substr(36, 16), flags = v.substr(53, 2);
  if (!lower_hex(version) || !lower_hex(trace) || !lower_hex(span) || !lower_hex(flags)) return {};
  if (version == "ff" || all_zero(trace) || all_zero(span)) return {};
  if (v.size() > kLen && (version == "00" || v[kLen] != '-')) return {};
  return {std::string(trace), std::string(span)};
}

}  // namespace bg
