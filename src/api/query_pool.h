// A small fixed pool of threads that runs query API work off the HTTP io threads, so a long
// PromQL evaluation never stalls other connections. Admission is non-blocking: at most
// `max_queued` jobs wait (running jobs do not count), and TrySubmit refuses at once when the
// queue is full, so the caller can answer 503 instead of piling up memory.
//
// Every submitted job is invoked exactly once: with run=true on a worker, or with run=false
// when the pool shuts down before a worker took it (the job must then only answer its client,
// quickly). Shutdown() (also run by the destructor) refuses new jobs, hands queued jobs
// run=false, waits for running jobs to return and joins the threads.
//
// Thread-safety: TrySubmit, queued and Shutdown may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/bounded_queue.h"

namespace observex::api {

class QueryPool {
 public:
  using Job = absl::AnyInvocable<void(bool run) &&>;

  // `threads` >= 1; `max_queued` >= 1 (0 is taken as 1).
  QueryPool(int threads, size_t max_queued);
  ~QueryPool();
  QueryPool(const QueryPool&) = delete;
  QueryPool& operator=(const QueryPool&) = delete;

  // Queues `job`; false (with `job` left untouched) when the queue is full or shut down.
  bool TrySubmit(Job& job);
  // Jobs waiting for a worker.
  size_t queued() const { return queue_.size(); }
  size_t max_queued() const { return static_cast<size_t>(queue_.capacity()); }
  // True once Shutdown has begun (a refused job can tell "full" from "shutting down").
  bool stopping() const { return stopping_.load(); }
  void Shutdown();

 private:
  void Work();

  BoundedQueue<Job> queue_;
  std::atomic<bool> stopping_{false};
  std::mutex shutdown_mu_;  // serialises Shutdown calls
  std::vector<std::thread> threads_;
};

}  // namespace observex::api
