#include "uring_copy.h"

#include "fault_injection.h"
#include "source.h"

#include <algorithm>
#include <cerrno>
#include <thread>

namespace blockcopy {

namespace {
// Waiting for the bandwidth limit with nothing in flight: cancel is seen this often.
constexpr std::chrono::milliseconds kThrottleSlice{20};
}  // namespace

UringCopier::UringCopier(uint32_t block_size, uint32_t depth)
    : block_size_(block_size), depth_(depth), pool_(static_cast<size_t>(block_size) * depth) {}

Status UringCopier::init() {
  if (!pool_.ok()) return Status::Sys(ENOMEM, "malloc", Side::None);
  Status s = ring_.init(depth_);
  if (!s.ok()) return s;
  std::vector<std::pair<void*, size_t>> buffers;
  slots_.resize(depth_);
  for (uint32_t i = 0; i < depth_; i++) {
    slots_[i].buf = pool_.data() + static_cast<size_t>(i) * block_size_;
    slots_[i].index = static_cast<uint16_t>(i);
    buffers.push_back({slots_[i].buf, block_size_});
  }
  // Registered buffers save the kernel pinning pages on every request; when
  // refused (RLIMIT_MEMLOCK) plain reads and writes do the same job.
  ring_.register_buffers(buffers);
  return Status::Ok();
}

void UringCopier::submit_read(Slot& slot) {
  ring_.prepare_read(src_, slot.buf + slot.got, slot.length - slot.got, slot.src_pos + slot.got, slot.index, slot.index);
  in_flight_++;
}

void UringCopier::submit_write(Slot& slot) {
  const Segment& w = slot.writes[slot.write_index];
  ring_.prepare_write(dst_, slot.buf + w.offset + slot.write_done, w.length - slot.write_done,
                      slot.dst_pos + w.offset + slot.write_done, slot.index, slot.index);
  in_flight_++;
}

// A chunk is in the destination: move the frontier over every finished chunk
// at the front of the issue order.
void UringCopier::finish(Slot& slot) {
  slot.state = State::Idle;
  order_.done(slot.seq);
}

void UringCopier::on_read(Slot& slot, int32_t res, ChunkHandler& handler) {
  if (res == 0) {
    error_ = Source::ended_at(slot.src_pos + slot.got);
    slot.state = State::Idle;
    return;
  }
  slot.got += static_cast<uint32_t>(res);
  if (slot.got < slot.length) {  // short read: ask for the rest
    submit_read(slot);
    return;
  }
  if (stop_ || !error_.ok()) {  // cancelled meanwhile: the data is dropped, the frontier stays
    slot.state = State::Idle;
    return;
  }
  mark_read(slot);
  if (reads_first_) {
    slot.state = State::Read;  // released by release_waiting_writes(), maybe at once
    return;
  }
  start_writes(slot, handler);
}

// The chunk's read is complete: move the read frontier over every chunk at
// the front of the issue order whose read is.
void UringCopier::mark_read(const Slot& slot) {
  order_.read(slot.seq);
}

// A memmove downwards: a chunk may write once the source below the end of its
// destination range is all read (into its own buffer or an earlier chunk's).
void UringCopier::release_waiting_writes(ChunkHandler& handler) {
  const uint64_t unread = order_.read_up_to();
  for (Slot& slot : slots_) {
    if (slot.state != State::Read) continue;
    if (stop_ || !error_.ok())
      slot.state = State::Idle;
    else if (slot.dst_pos + slot.length <= unread)
      start_writes(slot, handler);
  }
}

void UringCopier::start_writes(Slot& slot, ChunkHandler& handler) {
  slot.writes.clear();
  Status s = handler.plan_writes(slot.buf, slot.length, slot.dst_pos, &slot.writes);
  if (!s.ok()) {
    error_ = s;
    slot.state = State::Idle;
    return;
  }
  if (slot.writes.empty()) {
    finish(slot);
    return;
  }
  slot.state = State::Writing;
  slot.write_index = 0;
  slot.write_done = 0;
  submit_write(slot);
}

void UringCopier::on_write(Slot& slot, int32_t res, ChunkHandler& handler) {
  if (res == 0) {
    error_ = Status::Sys(ENOSPC, "write", Side::Destination);
    slot.state = State::Idle;
    return;
  }
  slot.write_done += static_cast<uint32_t>(res);
  handler.written(static_cast<uint64_t>(res));
  const Segment& w = slot.writes[slot.write_index];
  if (slot.write_done < w.length) {  // short write: the rest
    submit_write(slot);
    return;
  }
  slot.write_index++;
  slot.write_done = 0;
  if (slot.write_index < slot.writes.size()) {
    if (stop_ || !error_.ok()) {
      slot.state = State::Idle;
      return;
    }
    submit_write(slot);
    return;
  }
  finish(slot);
}

// Test builds only (fault_injection.h): the bytes this completion moved.
bool UringCopier::injected(const Slot& slot, bool reading, int32_t res) const {
  if (reading) return fault_at(FaultOp::Read, slot.src_pos + slot.got, static_cast<uint64_t>(res));
  const Segment& w = slot.writes[slot.write_index];
  return fault_at(FaultOp::Write, slot.dst_pos + w.offset + slot.write_done, static_cast<uint64_t>(res));
}

void UringCopier::on_completion(Slot& slot, int32_t res, ChunkHandler& handler) {
  in_flight_--;
  const bool reading = slot.state == State::Reading;
  if (res == -EAGAIN || res == -EINTR) {  // try the same request again
    if (reading)
      submit_read(slot);
    else
      submit_write(slot);
    return;
  }
  if (res > 0 && injected(slot, reading, res)) res = -EIO;
  if (res < 0) {
    if (error_.ok())
      error_ = reading ? Status::Sys(-res, "read", Side::Source) : Status::Sys(-res, "write", Side::Destination);
    slot.state = State::Idle;
    return;
  }
  if (reading)
    on_read(slot, res, handler);
  else
    on_write(slot, res, handler);
}

Status UringCopier::copy(int src, int dst, uint64_t src_pos, uint64_t length, uint64_t dst_pos, bool reads_first,
                         ChunkHandler& handler, uint64_t* frontier, bool* stopped) {
  src_ = src;
  dst_ = dst;
  delta_ = dst_pos - src_pos;
  reads_first_ = reads_first;
  in_flight_ = 0;
  stop_ = false;
  error_ = Status::Ok();
  order_.start(src_pos, src_pos + length);

  for (;;) {
    // Keep every idle buffer busy while there is range left, the bandwidth
    // limit allows and there is no reason to stop. The limit is drawn per
    // request, never for the whole queue ahead of time.
    std::chrono::nanoseconds turn{0};
    for (Slot& slot : slots_) {
      if (stop_ || !error_.ok()) break;
      if (slot.state != State::Idle) continue;
      const uint32_t n = order_.next_length(handler, block_size_, &turn);
      if (n == 0) break;
      slot.state = State::Reading;
      slot.src_pos = order_.next();
      slot.dst_pos = slot.src_pos + delta_;
      slot.length = n;
      slot.got = 0;
      slot.seq = order_.issue(n);
      submit_read(slot);
    }
    if (in_flight_ == 0) {
      if (turn.count() == 0) break;
      // Nothing in flight: wait for the next turn here, a slice at a time, so cancel is seen.
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(turn, kThrottleSlice));
      if (!handler.checkpoint(order_.frontier())) stop_ = true;
      continue;
    }
    Status s = ring_.submit_and_wait(1, turn);
    if (!s.ok()) {
      // The ring itself failed: nothing more can be reaped safely.
      *frontier = order_.frontier();
      *stopped = stop_;
      return s;
    }
    Completion c;
    while (ring_.next_completion(&c)) on_completion(slots_[c.user_data], c.res, handler);
    if (reads_first_) release_waiting_writes(handler);
    if (!stop_ && error_.ok() && !handler.checkpoint(order_.frontier())) stop_ = true;
  }
  for (Slot& slot : slots_) slot.state = State::Idle;  // a read chunk left waiting by a stop or an error
  *frontier = order_.frontier();
  *stopped = stop_;
  return error_;
}

}  // namespace blockcopy
