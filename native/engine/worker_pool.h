// Helper threads for work that splits into independent items (the blocks of a
// window to hash): the caller hands over a batch and goes on with something
// else (reading the next window) until it needs the batch finished.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace blockcopy {

class WorkerPool {
 public:
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs item(i) for every i in [0, count) on the helpers; returns at once.
  // One batch at a time: wait() for it before starting the next.
  void start(size_t count, std::function<void(size_t)> item);
  void wait();

  // Helpers for this machine: one per core, at most `most`.
  static unsigned threads_for_machine(unsigned most);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable work_, finished_;
  std::function<void(size_t)> item_;
  size_t count_ = 0, next_ = 0, done_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace blockcopy
