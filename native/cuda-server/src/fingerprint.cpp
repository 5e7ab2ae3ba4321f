#include "fingerprint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "error.h"
#include "sha256.h"

namespace bg {

std::string model_sha256(const std::string& config_file, const Checkpoint& ck) {
  std::ifstream in(config_file, std::ios::binary);
  if (!in) throw Error(config_file + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  const std::string config = text.str();
  // Length first, as each safetensors header already carries its own: no two different
  // (config, headers) inputs hash the same byte stream.
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(uint64_t{config.size()} >> (8 * i));
  Sha256 h;
  h.update(std::string_view(len, 8)).update(config);
  std::vector<Checkpoint::FileHeader> headers = ck.headers();
  std::sort(headers.begin(), headers.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  for (const auto& f : headers) h.update(f.bytes);
  return h.hex();
}

}  // namespace bg
