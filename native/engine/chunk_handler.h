// What the copy loop lends a data mover for each chunk: the throttle, zero
// detection and hole zeroing, the counters, and the cancel/progress checkpoint.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "status.h"

namespace blockcopy {

// A run of a chunk buffer that must be written out.
struct Segment {
  uint32_t offset;
  uint32_t length;
};

class ChunkHandler {
 public:
  virtual ~ChunkHandler() = default;
  // How much one request may read, at most `largest`: less under a bandwidth limit.
  virtual uint64_t request_size(uint64_t largest) const = 0;
  // Before reading `bytes`: waits on the bandwidth limit.
  virtual void before_read(uint64_t bytes) = 0;
  // The same without waiting, for a mover with other reads in flight: takes
  // the allowance and returns zero, or returns how long until it is there.
  virtual std::chrono::nanoseconds try_read(uint64_t bytes) = 0;
  // After a chunk is read: the runs to write. Zero runs (sparse 'always') are
  // dealt with here and counted; the written runs are counted by written().
  virtual Status plan_writes(const unsigned char* data, uint32_t length, uint64_t dst_pos,
                             std::vector<Segment>* writes) = 0;
  virtual void written(uint64_t bytes) = 0;
  // `frontier`: every source byte below it is in the destination.
  // Returns false when the copy must stop (cancelled).
  virtual bool checkpoint(uint64_t frontier) = 0;
};

}  // namespace blockcopy
