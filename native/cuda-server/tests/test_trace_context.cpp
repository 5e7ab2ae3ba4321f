// The W3C traceparent parser: the spec's example, then each way a value is malformed.
#include <gtest/gtest.h>

#include "trace_context.h"

namespace bg {
namespace {

constexpr const char* kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kSpan = "00f067aa0ba902b7";

TEST(TraceParent, ParsesTheSpecExample) {
  const TraceParent t = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_TRUE(t.present());
  EXPECT_EQ(t.trace_id, kTrace);
  EXPECT_EQ(t.span_id, kSpan);
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").span_id,
            kSpan);  // not sampled: still logged
}

TEST(TraceParent, LaterVersionsMayAppendFields) {
  EXPECT_EQ(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abc")
                .trace_id,
            kTrace);
  EXPECT_EQ(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").trace_id,
            kTrace);
}

TEST(TraceParent, IgnoresMalformedValues) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more fields
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   // no '-' before more
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    // separators
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
           "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",    // ids misplaced
           " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // leading space
       }) {
    const TraceParent t = parse_traceparent(bad);
    EXPECT_FALSE(t.present()) << "'" << bad << "' gave " << t.trace_id;
    EXPECT_EQ(t.span_id, "") << bad;
  }
}

}  // namespace
}  // namespace bg
