// Reads one series from a Metrics registry the way a scrape sees it.
#pragma once

#include <gtest/gtest.h>
#include <prometheus/metric_type.h>

#include <cmath>
#include <map>
#include <string>

#include "metrics.h"

namespace bg {

// The value of series `name` with exactly `labels`: a counter's or gauge's value, or for a
// histogram `name` + "_count" / "_sum". Fails the test (and gives NaN) when there is none.
inline double metric(const Metrics& m, const std::string& name,
                     const std::map<std::string, std::string>& labels = {}) {
  for (const auto& fam : m.registry()->Collect()) {
    const bool hist = fam.type == prometheus::MetricType::Histogram;
    if (fam.name != name && !(hist && (name == fam.name + "_count" || name == fam.name + "_sum")))
      continue;
    for (const auto& cm : fam.metric) {
      std::map<std::string, std::string> got;
      for (const auto& l : cm.label) got[l.name] = l.value;
      if (got != labels) continue;
      if (hist) {
        return name.ends_with("_count") ? static_cast<double>(cm.histogram.sample_count)
                                        : cm.histogram.sample_sum;
      }
      return fam.type == prometheus::MetricType::Counter ? cm.counter.value : cm.gauge.value;
    }
  }
  ADD_FAILURE() << "no series " << name;
  return std::nan("");
}

}  // namespace bg
