#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "error.h"

namespace bg {

using nlohmann::json;

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

size_t TensorView::nbytes() const {
  return static_cast<size_t>(numel()) * dtype_bits(dtype) / 8;
}

void TensorView::release() const { release_prefix(nbytes()); }

void TensorView::release_prefix(size_t end) const {
  if (!data) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(data) + std::min(end, nbytes())) / page * page;
  // Only whole pages inside the tensor: neighbours may not have been read yet. Advice only;
  // a failure changes nothing but memory use.
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(errno));
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error(path + ": mmap failed: " + std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(index)) {
    std::ifstream in(index);
    json j;
    try {
      j = json::parse(in);
    } catch (const std::exception& e) {
      throw Error(index.string() + ": not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(index.string() + ": expected an object \"weight_map\", got none");
    std::set<std::string> shards;
    for (auto& [name, file] : j["weight_map"].items()) shards.insert(file.get<std::string>());
    for (const auto& s : shards) add_file((fs::path(dir) / s).string());
    for (auto& [name, file] : j["weight_map"].items()) {
      auto it = tensors_.find(name);
      if (it == tensors_.end())
        throw Error(index.string() + ": tensor '" + name + "' is mapped to " +
                    file.get<std::string>() + " but that file does not contain it");
    }
  } else if (fs::exists(single)) {
    add_file(single.string());
  } else {
    throw Error(dir + ": expected model.safetensors or model.safetensors.index.json, found "
                      "neither");
  }
}

void Checkpoint::add_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(path + ": shard file does not exist");
  auto f = std::make_unique<MappedFile>(path);
  const size_t size = f->size();
  if (size < 8)
    throw Error(path + ": truncated: expected at least 8 bytes of header length, got " +
                std::to_string(size));
  uint64_t hlen = 0;
  std::memcpy(&hlen, f->data(), 8);
  if (hlen > size - 8)
    throw Error(path + ": truncated: header length " + std::to_string(hlen) +
                " exceeds the file size " + std::to_string(size));
  json h;
  try {
    h = json::parse(f->data() + 8, f->data() + 8 + hlen);
  } catch (const std::exception& e) {
    throw Error(path + ": header is not valid JSON: " + e.what());
  }
  const uint8_t* base = f->data() + 8 + hlen;
  const uint64_t data_size = size - 8 - hlen;
  std::map<uint64_t, std::pair<uint64_t, std::string>> spans;  // begin -> (end, tensor)
  for (auto& [name, t] : h.items()) {
    if (name == "__metadata__") continue;
    TensorView v;
    v.name = name;
    v.file = path;
    // Any safetensors dtype parses, so the header is checked in full and a tensor the model
    // uses but cannot read is refused by the loader by name. A string that is no safetensors
    // dtype leaves the tensor's byte size unknown: refused here, as safetensors itself does.
    const std::string dt = t.value("dtype", "");
    if (!dtype_from_name(dt, &v.dtype))
      throw Error(path + ": tensor '" + name + "': unknown dtype; expected a safetensors dtype "
                  "(F32, BF16, F16, I64, F8_E4M3, ...), got " +
                  (dt.empty() ? std::string("none") : dt));
    int64_t numel = 1;
    for (auto& s : t.at("shape")) {
      if (!s.is_number_integer() || s.get<int64_t>() < 0)
        throw Error(path + ": tensor '" + name + "': shape has a non-integer or negative dim");
      const int64_t dim = s.get<int64_t>();
      // A lying shape must not overflow the byte count it is checked against.
      if (dim > 0 && numel > (int64_t{1} << 56) / dim)
        throw Error(path + ": tensor '" + name + "': shape holds more than 2^56 elements");
      numel *= dim;
      v.shape.push_back(dim);
    }
    if (numel * dtype_bits(v.dtype) % 8 != 0)
      throw Error(path + ": tensor '" + name + "': " + std::to_string(numel) + " elements of " +
                  dt + " do not fill whole bytes");
    auto off = t.at("data_offsets");
    if (!off.is_array() || off.size() != 2)
      throw Error(path + ": tensor '" + name + "': data_offsets must be [begin, end]");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    const uint64_t want = v.nbytes();
    if (e < b || e - b != want)
      throw Error(path + ": tensor '" + name + "': data_offsets [" + std::to_string(b) + ", " +
                  std::to_string(e) + "] span " + std::to_string(e - b) +
                  " bytes; expected " + std::to_string(want) + " bytes for its shape and dtype");
    if (e > data_size)
      throw Error(path + ": tensor '" + name + "': data ends at byte " + std::to_string(e) +
                  " of the data section, but the file holds only " + std::to_string(data_size) +
                  " data bytes (truncated file or lying header)");
    v.data = base + b;
    if (e > b) spans[b] = {e, name};
    if (tensors_.count(name))
      throw Error(path + ": tensor '" + name + "' appears in more than one file");
    tensors_.emplace(name, std::move(v));
  }
  // Two tensors over the same bytes would load without complaint and compute garbage.
  uint64_t prev_end = 0;
  std::string prev;
  for (const auto& [b, span] : spans) {
    if (b < prev_end)
      throw Error(path + ": tensor '" + span.second + "' data starts at byte " +
                  std::to_string(b) + ", inside tensor '" + prev + "' (ends at byte " +
                  std::to_string(prev_end) + "); expected non-overlapping data");
    prev_end = span.first;
    prev = span.second;
  }
  headers_.push_back({path, std::string_view(reinterpret_cast<const char*>(f->data()), 8 + hlen)});
  files_.push_back(std::move(f));
}

const TensorView& Checkpoint::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    std::string files;
    for (const auto& f : files_) files += (files.empty() ? "" : ", ") + f->path();
    throw Error("missing tensor '" + name + "': expected in " + files + ", not found");
  }
  return it->second;
}

}  // namespace bg
