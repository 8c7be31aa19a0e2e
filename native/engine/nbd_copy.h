// The NBD data mover: `depth` chunks in flight between a Source and a
// Destination of which one or both are NBD exports, as nbdcopy does it. A
// chunk is read (an NBD read, or a pread from a local file), split by the
// copy loop (zero runs), and written (NBD writes, or pwrite); NBD requests
// overlap, spread over the export's connections.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "aligned_buffer.h"
#include "chunk_handler.h"
#include "chunk_order.h"
#include "destination.h"
#include "source.h"

namespace blockcopy {

class NbdCopier {
 public:
  NbdCopier(const Source& src, Destination& dst, uint32_t block_size, uint32_t depth);

  // Copies [src_pos, src_pos + length) to dst_pos, ascending. `*frontier`:
  // the lowest source offset not yet written, exact whatever order replies
  // come in; `*stopped`: a checkpoint said stop.
  Status copy(uint64_t src_pos, uint64_t length, uint64_t dst_pos, ChunkHandler& handler, uint64_t* frontier,
              bool* stopped);

 private:
  enum class State { Idle, Reading, Read, Writing };
  struct Slot {
    unsigned char* buf = nullptr;
    State state = State::Idle;
    uint64_t src_pos = 0, dst_pos = 0, seq = 0;
    uint32_t length = 0;
    std::vector<Segment> writes;
    size_t writes_left = 0;
  };

  void start_read(Slot& slot);
  void on_read(Slot& slot, const Status& s);
  void start_writes(Slot& slot, ChunkHandler& handler);
  void on_write(Slot& slot, uint32_t length, const Status& s, ChunkHandler& handler);
  void finish(Slot& slot);
  void fail(const Status& s);
  bool busy() const;

  const Source& src_;
  Destination& dst_;
  NbdExport* const src_nbd_;
  NbdExport* const dst_nbd_;
  uint32_t chunk_;
  std::vector<Slot> slots_;
  AlignedBuffer pool_;  // one chunk per slot, page-aligned

  ChunkOrder order_;
  uint64_t delta_ = 0;
  bool stop_ = false;
  Status error_;
};

}  // namespace blockcopy
