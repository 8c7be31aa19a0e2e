// The io_uring data mover: `depth` chunks in flight, each read into one of a
// pool of aligned buffers and written back from it as soon as it arrives.
#pragma once

#include <cstdint>
#include <vector>

#include "aligned_buffer.h"
#include "chunk_handler.h"
#include "chunk_order.h"
#include "uring.h"

namespace blockcopy {

class UringCopier {
 public:
  UringCopier(uint32_t block_size, uint32_t depth);
  Status init();

  // Copies [src_pos, src_pos + length) to dst_pos, ascending. On return,
  // `*frontier` is the lowest source offset not yet written, which is exact even
  // though completions arrive out of order; `*stopped` says a checkpoint said stop.
  //
  // `src` and `dst` may be one file with dst_pos below src_pos (a memmove
  // downwards): then `reads_first` must be set, and a chunk's writes wait until
  // every source byte below the end of its destination range has been read,
  // so no write lands on source bytes a slower read has yet to fetch.
  Status copy(int src, int dst, uint64_t src_pos, uint64_t length, uint64_t dst_pos, bool reads_first,
              ChunkHandler& handler, uint64_t* frontier, bool* stopped);

 private:
  // Read: the data is in, its writes wait for slower reads below (reads_first).
  enum class State { Idle, Reading, Read, Writing };
  struct Slot {
    unsigned char* buf = nullptr;
    uint16_t index = 0;
    State state = State::Idle;
    uint64_t src_pos = 0, dst_pos = 0, seq = 0;
    uint32_t length = 0, got = 0;
    std::vector<Segment> writes;
    size_t write_index = 0;
    uint32_t write_done = 0;
  };

  void submit_read(Slot& slot);
  void submit_write(Slot& slot);
  bool injected(const Slot& slot, bool reading, int32_t res) const;
  void on_completion(Slot& slot, int32_t res, ChunkHandler& handler);
  void on_read(Slot& slot, int32_t res, ChunkHandler& handler);
  void on_write(Slot& slot, int32_t res, ChunkHandler& handler);
  void start_writes(Slot& slot, ChunkHandler& handler);
  void mark_read(const Slot& slot);
  void release_waiting_writes(ChunkHandler& handler);
  void finish(Slot& slot);

  const uint32_t block_size_;
  const uint32_t depth_;
  AlignedBuffer pool_;
  Ring ring_;
  std::vector<Slot> slots_;

  // Per copy() call.
  int src_ = -1, dst_ = -1;
  uint64_t delta_ = 0;  // dst_pos - src_pos, modulo 2^64
  ChunkOrder order_;
  bool reads_first_ = false;
  unsigned in_flight_ = 0;
  bool stop_ = false;
  Status error_;
};

}  // namespace blockcopy
