// A bounded cache of decompressed column blocks of immutable parts, for small reads.
//
// A block enters only after its checksum and header were verified and it was decompressed,
// so a hit is exactly what a read of the file would give (parts never change once written).
// Entries are keyed by a part reader's process-unique id, never by path: a part rewritten
// under the same name by a later merge is a different reader and cannot see stale entries.
// Entries of parts dropped by merges or retention are never looked up again and age out.
// The cache holds at most `max_bytes` (value bytes plus a fixed overhead per entry),
// evicting the least recently used first. Large reads do not use it (the caller decides),
// so that a scan over a day cannot push out the blocks of the frequent short queries of a
// dashboard; this follows ClickHouse's uncompressed cache. Safe to use from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace observex::storage {

class BlockCache {
 public:
  struct Key {
    uint64_t part = 0;  // PartReader::cache_id()
    uint32_t column = 0;
    uint32_t block = 0;
    bool operator==(const Key&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.part, k.column, k.block);
    }
  };
  struct Stats {
    uint64_t hits = 0, misses = 0, evictions = 0;
    uint64_t bytes = 0, entries = 0;
  };
  // Counted per entry besides its bytes (list and map nodes, the string header).
  static constexpr size_t kEntryOverheadBytes = 128;

  explicit BlockCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // The block, or null (counted as a miss).
  std::shared_ptr<const std::string> Lookup(const Key& key);
  // Keeps `block` (a block larger than an eighth of the cache is not kept), evicting the
  // least recently used entries to stay within the bound.
  void Insert(const Key& key, std::shared_ptr<const std::string> block);
  Stats stats() const;
  size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    Key key;
    std::shared_ptr<const std::string> block;
  };
  static size_t Charge(const std::string& s) { return s.size() + kEntryOverheadBytes; }

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<Key, std::list<Entry>::iterator> map_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace observex::storage
