#include "kv_cache.h"

#include "error.h"

namespace bg {

KvCache::KvCache(Backend& backend, int total_blocks, int block_tokens)
    : backend_(backend), total_(total_blocks), block_tokens_(block_tokens), refs_(total_blocks, 0) {
  for (int b = total_blocks - 1; b >= 0; --b) free_.push_back(b);
  backend_.init_kv(total_blocks, block_tokens);
}

int KvCache::alloc() {
  if (free_.empty() && !evict_one()) return -1;
  const int b = free_.back();
  free_.pop_back();
  BG_ASSERT(refs_[b] == 0);
  refs_[b] = 1;
  return b;
}

void KvCache::unref(int b) {
  BG_ASSERT(refs_[b] > 0);
  if (--refs_[b] == 0) free_.push_back(b);
}

bool KvCache::evict_one() {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    auto e = entries_.find(*it);
    if (refs_[e->second.block] != 1) continue;
    const int b = e->second.block;
    lru_.erase(std::next(it).base());
    entries_.erase(e);
    unref(b);
    return true;
  }
  return false;
}

bool KvCache::grow(KvSeq& s, int len) {
  const int need = (len + block_tokens_ - 1) / block_tokens_;
  std::vector<int> got;
  while (static_cast<int>(s.blocks.size() + got.size()) < need) {
    const int b = alloc();
    if (b < 0) {
      for (int g : got) unref(g);
      return false;
    }
    got.push_back(b);
  }
  s.blocks.insert(s.blocks.end(), got.begin(), got.end());
  s.len = len;
  return true;
}

bool KvCache::fork(const KvSeq& s, KvSeq* out) {
  const int full = s.len / block_tokens_, rest = s.len % block_tokens_;
  out->blocks.clear();
  if (rest) {
    const int b = alloc();
    if (b < 0) return false;
    backend_.copy_kv_block(s.blocks[full], b, rest);
    for (int i = 0; i < full; ++i) ref(s.blocks[i]);
    out->blocks.assign(s.blocks.begin(), s.blocks.begin() + full);
    out->blocks.push_back(b);
  } else {
    for (int i = 0; i < full; ++i) ref(s.blocks[i]);
    out->blocks.assign(s.blocks.begin(), s.blocks.begin() + full);
  }
  out->len = s.len;
  return true;
}

void KvCache::release(KvSeq& s) {
  for (int b : s.blocks) unref(b);
  s.blocks.clear();
  s.len = 0;
}

uint64_t KvCache::chain(uint64_t parent, const int* tokens) const {
  uint64_t h = parent ^ 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < block_tokens_; ++i) {
    h ^= static_cast<uint32_t>(tokens[i]);
    h *= 0x100000001B3ull;
    h ^= h >> 29;
  }
  return h;
}

const KvCache::Entry* KvCache::find(uint64_t parent, const int* tokens, uint64_t* key) const {
  *key = chain(parent, tokens);
  auto it = entries_.find(*key);
  if (it == entries_.end() || it->second.parent != parent) return nullptr;
  for (int i = 0; i < block_tokens_; ++i)
    if (it->second.tokens[i] != tokens[i]) return nullptr;
  return &it->second;
}

int KvCache::lookup(const int* tokens, int max_tokens, KvSeq* out) {
  BG_ASSERT(out->blocks.empty());
  uint64_t parent = 0, key = 0;
  std::vector<uint64_t> hits;
  for (int i = 0; (i + 1) * block_tokens_ <= max_tokens; ++i) {
    const Entry* e = find(parent, tokens + i * block_tokens_, &key);
    if (!e) break;
    ref(e->block);
    out->blocks.push_back(e->block);
    hits.push_back(key);
    parent = key;
  }
  // Touch deepest first so the chain's head ends most recent: eviction then trims prefixes
  // from their tails, never orphaning a still-cached tail behind an evicted head.
  for (auto it = hits.rbegin(); it != hits.rend(); ++it) {
    Entry& e = entries_.at(*it);
    lru_.splice(lru_.begin(), lru_, e.lru);
  }
  out->len = static_cast<int>(out->blocks.size()) * block_tokens_;
  return out->len;
}

void KvCache::publish(const int* tokens, int n, const KvSeq& s) {
  uint64_t parent = 0, key = 0;
  const int full = std::min(n, s.len) / block_tokens_;
  for (int i = 0; i < full; ++i) {
    const int* t = tokens + i * block_tokens_;
    const Entry* e = find(parent, t, &key);
    if (!e) {
      if (entries_.count(key)) return;  // a colliding key holds another prefix: stop sharing
      Entry ne{s.blocks[i], parent, std::vector<int>(t, t + block_tokens_), {}};
      lru_.push_front(key);
      ne.lru = lru_.begin();
      entries_.emplace(key, std::move(ne));
      ref(s.blocks[i]);
    }
    parent = key;
  }
}

}  // namespace bg
