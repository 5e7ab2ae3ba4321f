// Paged KV bookkeeping: fixed-size blocks with reference counts, and a prefix cache keyed by
// token ids. The KV data itself lives in the backend; this class only hands out block ids.
//
// Prefix cache: a full block holding tokens [i*B, (i+1)*B) of some sequence is keyed by the
// hash chain h_i = hash(h_{i-1}, tokens of block i), so a key names the whole prefix up to the
// block's end, not just its own tokens. Each entry also stores its tokens and parent key, so a
// hash collision can never return foreign KV. The cache holds one reference on every block it
// names; a block whose only reference is the cache's is evictable, least recently used first.
// Only full blocks are shared; a sequence's partial last block is always private, so shared
// blocks are never written.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "backend.h"

namespace bg {

struct KvSeq {
  std::vector<int> blocks;  // block table
  int len = 0;              // tokens whose KV is (or is being) written
};

class KvCache {
 public:
  KvCache(Backend& backend, int total_blocks, int block_tokens);

  int block_tokens() const { return block_tokens_; }
  int total_blocks() const { return total_; }
  int free_blocks() const { return static_cast<int>(free_.size()); }
  int cached_blocks() const { return static_cast<int>(entries_.size()); }

  // Makes `s` able to hold `len` tokens (sets s.len = len). Evicts cached blocks when the free
  // list runs dry. Returns false, leaving `s` unchanged, when memory cannot be found.
  bool grow(KvSeq& s, int len);
  // `out` shares s's full blocks and gets a private copy of its partial last block.
  bool fork(const KvSeq& s, KvSeq* out);
  // Drops s's references; blocks no one holds return to the free list.
  void release(KvSeq& s);

  // Finds the longest run of cached full blocks that starts `tokens` and covers at most
  // `max_tokens` tokens; `out` (empty on entry) references them. Returns the tokens covered.
  int lookup(const int* tokens, int max_tokens, KvSeq* out);
  // Offers the full blocks of `s`, which holds `tokens` [0, n), to the prefix cache.
  void publish(const int* tokens, int n, const KvSeq& s);

 private:
  struct Entry {
    int block;
    uint64_t parent;
    std::vector<int> tokens;          // (B,)
    std::list<uint64_t>::iterator lru;
  };
  int alloc();
  void ref(int b) { ++refs_[b]; }
  void unref(int b);
  bool evict_one();
  uint64_t chain(uint64_t parent, const int* tokens) const;
  const Entry* find(uint64_t parent, const int* tokens, uint64_t* key) const;

  Backend& backend_;
  int total_;
  int block_tokens_;
  std::vector<int> refs_;        // (blocks,)
  std::vector<int> free_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;      // front = most recently used
};

}  // namespace bg
