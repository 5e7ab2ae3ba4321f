// SHA-256 through OpenSSL's libcrypto, as lowercase hex.
#pragma once

#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace bg {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view bytes);
  // The digest of everything updated so far; ends the hash (no update after it).
  std::string hex();

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view bytes);
// Of the file's bytes, read in pieces. Throws Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace bg
