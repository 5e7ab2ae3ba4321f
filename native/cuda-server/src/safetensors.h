// Memory-mapped safetensors files: header parsing with every offset checked against the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dtype.h"

namespace bg {

// A read-only mmap of a whole file; unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// One tensor as stored: dtype, shape and row-major bytes inside a file's mapping, valid while
// its Checkpoint lives. Default-constructed: absent (an optional tensor the model lacks).
struct TensorView {
  std::string name;
  std::string file;               // path of the file holding it, for error messages
  DType dtype = DType::F32;       // as stored (any safetensors dtype; see dtype_readable)
  std::vector<int64_t> shape;     // as stored, e.g. (out, in) for a linear weight
  const uint8_t* data = nullptr;  // into the mapping, nbytes() bytes
  bool present() const { return !name.empty(); }
  int64_t numel() const;
  size_t nbytes() const;
  // Drops the mapping's resident pages for this tensor once a backend has converted it, so
  // building a backend does not hold the file and the converted copy in memory at once. The
  // data stays readable: touched again, the pages are read back from the file.
  void release() const;
  // The same for bytes [0, end) only, for a converter that goes through one large tensor (a
  // 151,936-row embedding is 311 MB in bf16) in order: pages shared with the rest stay.
  void release_prefix(size_t end) const;
};

// One checkpoint: one or more safetensors files (sharded through model.safetensors.index.json).
class Checkpoint {
 public:
  // Maps `dir`/model.safetensors, or every shard named by `dir`/model.safetensors.index.json.
  explicit Checkpoint(const std::string& dir);
  // Throws Error naming the tensor and the file(s) searched when absent.
  const TensorView& get(const std::string& name) const;
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

  // One file's first 8 + N bytes, as checked at load: the little-endian uint64 header length N
  // and the N-byte header JSON. Points into the mapping, valid while the Checkpoint lives.
  struct FileHeader {
    std::string path;
    std::string_view bytes;
  };
  // Per file, in the order the files were mapped.
  const std::vector<FileHeader>& headers() const { return headers_; }

 private:
  void add_file(const std::string& path);
  std::string dir_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<FileHeader> headers_;
  std::map<std::string, TensorView> tensors_;
};

}  // namespace bg
