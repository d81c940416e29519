#include "api/query_pool.h"

#include <algorithm>

namespace observex::api {

QueryPool::QueryPool(int threads, size_t max_queued) : queue_(std::max<size_t>(max_queued, 1)) {
  const int n = std::max(threads, 1);
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
}

QueryPool::~QueryPool() { Shutdown(); }

bool QueryPool::TrySubmit(Job& job) {
  if (stopping_.load()) return false;
  return queue_.TryPush(job, 1);
}

void QueryPool::Shutdown() {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  stopping_.store(true);
  queue_.Close();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void QueryPool::Work() {
  while (std::optional<Job> job = queue_.Pop()) {
    // Once shutting down, what is still queued is only answered, not run.
    std::move (*job)(!stopping_.load());
  }
}

}  // namespace observex::api
