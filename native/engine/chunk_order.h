// The chunks of a range in the order a mover issued them, kept until every
// chunk before them is done, so the frontier (every source byte below it is
// in the destination) stays exact however completions come back. What the
// movers that keep several chunks in flight (io_uring, NBD) share.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>

#include "chunk_handler.h"

namespace blockcopy {

class ChunkOrder {
 public:
  // A new range [from, end).
  void start(uint64_t from, uint64_t end) {
    chunks_.clear();
    base_ = 0;
    unread_ = 0;
    next_ = frontier_ = from;
    end_ = end;
  }

  // The length of the next chunk, at most `largest` and what the bandwidth
  // limit allows now: 0 when the range is all issued, or when `*wait` (set)
  // says how long until the limit allows it.
  uint32_t next_length(ChunkHandler& handler, uint32_t largest, std::chrono::nanoseconds* wait) const {
    if (next_ >= end_) return 0;
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(handler.request_size(largest), end_ - next_));
    *wait = handler.try_read(n);
    return wait->count() > 0 ? 0 : n;
  }
  // Issues the next `length` bytes: returns the chunk's number; it starts at next() before the call.
  uint64_t issue(uint32_t length) {
    chunks_.push_back({next_, next_ + length, false, false});
    next_ += length;
    return base_ + chunks_.size() - 1;
  }
  uint64_t next() const { return next_; }
  bool all_issued() const { return next_ >= end_; }

  // The chunk's data is in its buffer.
  void read(uint64_t seq) {
    chunks_[seq - base_].read = true;
    while (unread_ - base_ < chunks_.size() && chunks_[unread_ - base_].read) unread_++;
  }
  // Every source byte below this has been read (into some chunk's buffer).
  uint64_t read_up_to() const { return unread_ - base_ < chunks_.size() ? chunks_[unread_ - base_].start : next_; }

  // The chunk is in the destination.
  void done(uint64_t seq) {
    chunks_[seq - base_].done = true;
    while (!chunks_.empty() && chunks_.front().done) {
      frontier_ = chunks_.front().end;
      chunks_.pop_front();
      base_++;
    }
  }
  uint64_t frontier() const { return frontier_; }

 private:
  struct Chunk {
    uint64_t start, end;
    bool read, done;
  };
  std::deque<Chunk> chunks_;
  uint64_t base_ = 0;    // the number of chunks_.front()
  uint64_t unread_ = 0;  // the first chunk, in issue order, whose read is not complete
  uint64_t next_ = 0, end_ = 0, frontier_ = 0;
};

}  // namespace blockcopy
