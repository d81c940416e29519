// Bounded multi-producer multi-consumer queue, the one hand-off primitive between pipeline
// stages. Capacity is counted in caller-supplied weight (signals, not items), so one queue
// entry can carry a whole request while the bound still speaks of signals. Pushing never
// grows memory past the bound: TryPush refuses at once, Push waits until there is room or
// the queue is closed. Close() wakes every waiter; items already queued can still be popped
// until the queue is empty. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace observex {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(uint64_t capacity_weight) : capacity_(capacity_weight) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Adds `item` if `weight` fits in the remaining capacity; returns false (and leaves `item`
  // untouched) when it does not or the queue is closed. An item heavier than the whole
  // capacity is admitted only into an empty queue, so it cannot wedge the pipeline.
  bool TryPush(T& item, uint64_t weight) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || !FitsLocked(weight)) return false;
    items_.emplace_back(std::move(item), weight);
    used_ += weight;
    not_empty_.notify_one();
    return true;
  }

  // Waits for room. Returns false if the queue was closed first.
  bool Push(T item, uint64_t weight) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || FitsLocked(weight); });
    if (closed_) return false;
    items_.emplace_back(std::move(item), weight);
    used_ += weight;
    not_empty_.notify_one();
    return true;
  }

  // Waits for an item; nullopt once the queue is closed and drained.
  std::optional<T> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    return PopLocked();
  }

  // Like Pop, but gives up after `timeout` (returns nullopt).
  std::optional<T> PopFor(std::chrono::nanoseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    return PopLocked();
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  uint64_t used_weight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }
  uint64_t capacity() const { return capacity_; }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }

 private:
  bool FitsLocked(uint64_t weight) const {
    return items_.empty() ? true : used_ + weight <= capacity_;
  }
  std::optional<T> PopLocked() {
    if (items_.empty()) return std::nullopt;
    auto [item, weight] = std::move(items_.front());
    items_.pop_front();
    used_ -= weight;
    not_full_.notify_all();
    return std::optional<T>(std::move(item));
  }

  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::pair<T, uint64_t>> items_;
  uint64_t used_ = 0;
  bool closed_ = false;
};

}  // namespace observex
