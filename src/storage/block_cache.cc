#include "storage/block_cache.h"

#include <utility>

namespace observex::storage {

std::shared_ptr<const std::string> BlockCache::Lookup(const Key& key) {
  absl::MutexLock l(&mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->block;
}

void BlockCache::Insert(const Key& key, std::shared_ptr<const std::string> block) {
  if (block == nullptr || Charge(*block) > max_bytes_ / 8) return;
  const size_t charge = Charge(*block);
  absl::MutexLock l(&mu_);
  // Two readers may load the same block at once; the first one kept stays.
  if (map_.contains(key)) return;
  while (!lru_.empty() && stats_.bytes + charge > max_bytes_) {
    const Entry& victim = lru_.back();
    stats_.bytes -= Charge(*victim.block);
    --stats_.entries;
    ++stats_.evictions;
    map_.erase(victim.key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, std::move(block)});
  map_.emplace(key, lru_.begin());
  stats_.bytes += charge;
  ++stats_.entries;
}

BlockCache::Stats BlockCache::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

}  // namespace observex::storage
