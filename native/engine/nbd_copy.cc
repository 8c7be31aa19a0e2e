#include "nbd_copy.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace blockcopy {

namespace {
// How long one wait for replies lasts before cancel and progress get a look in.
constexpr std::chrono::milliseconds kWaitSlice{50};
constexpr std::chrono::milliseconds kThrottleSlice{20};
// One chunk is one request on either side: within what each server takes.
uint32_t one_request(const NbdExport* src, const NbdExport* dst, uint32_t block_size) {
  if (src) block_size = src->request_limit(block_size);
  if (dst) block_size = dst->request_limit(block_size);
  return block_size;
}
}  // namespace

NbdCopier::NbdCopier(const Source& src, Destination& dst, uint32_t block_size, uint32_t depth)
    : src_(src),
      dst_(dst),
      src_nbd_(src.nbd()),
      dst_nbd_(dst.nbd()),
      chunk_(one_request(src.nbd(), dst.nbd(), block_size)),
      slots_(depth),
      pool_(static_cast<size_t>(chunk_) * depth) {
  for (uint32_t i = 0; i < depth && pool_.ok(); i++) slots_[i].buf = pool_.data() + static_cast<size_t>(i) * chunk_;
}

void NbdCopier::fail(const Status& s) {
  if (error_.ok()) error_ = s;
}

bool NbdCopier::busy() const {
  return (src_nbd_ && src_nbd_->in_flight() > 0) || (dst_nbd_ && dst_nbd_->in_flight() > 0);
}

void NbdCopier::start_read(Slot& slot) {
  if (src_nbd_) {
    slot.state = State::Reading;
    src_nbd_->read(slot.src_pos, slot.length, slot.buf, [this, &slot](const Status& s) { on_read(slot, s); });
    return;
  }
  on_read(slot, src_.read(slot.buf, slot.length, slot.src_pos));
}

void NbdCopier::on_read(Slot& slot, const Status& s) {
  if (!s.ok()) fail(s);
  // Cancelled or failed meanwhile: the data is dropped, the frontier stays.
  slot.state = (s.ok() && !stop_ && error_.ok()) ? State::Read : State::Idle;
}

void NbdCopier::start_writes(Slot& slot, ChunkHandler& handler) {
  Status s = handler.plan_writes(slot.buf, slot.length, slot.dst_pos, &slot.writes);
  if (!s.ok()) {
    fail(s);
    slot.state = State::Idle;
    return;
  }
  if (slot.writes.empty()) {
    finish(slot);
    return;
  }
  slot.state = State::Writing;
  slot.writes_left = slot.writes.size();
  for (const Segment& w : slot.writes) {
    iovec piece{slot.buf + w.offset, w.length};
    if (dst_nbd_) {
      const uint32_t length = w.length;
      dst_nbd_->write(slot.dst_pos + w.offset, {piece},
                      [this, &slot, length, &handler](const Status& st) { on_write(slot, length, st, handler); });
    } else {
      uint64_t landed = 0;
      on_write(slot, w.length, dst_.write_gathered(slot.dst_pos + w.offset, {piece}, &landed), handler);
    }
  }
}

void NbdCopier::on_write(Slot& slot, uint32_t length, const Status& s, ChunkHandler& handler) {
  if (s.ok()) handler.written(length);
  else fail(s);
  if (--slot.writes_left > 0) return;
  if (error_.ok()) finish(slot);
  else slot.state = State::Idle;
}

void NbdCopier::finish(Slot& slot) {
  slot.state = State::Idle;
  order_.done(slot.seq);
}

Status NbdCopier::copy(uint64_t src_pos, uint64_t length, uint64_t dst_pos, ChunkHandler& handler, uint64_t* frontier,
                       bool* stopped) {
  delta_ = dst_pos - src_pos;
  stop_ = false;
  error_ = Status::Ok();
  if (!pool_.ok()) return Status::Sys(ENOMEM, "malloc", Side::None);
  order_.start(src_pos, src_pos + length);

  for (;;) {
    // Every idle slot gets a chunk while there is range left, the bandwidth
    // limit allows and there is no reason to stop.
    std::chrono::nanoseconds turn{0};
    for (Slot& slot : slots_) {
      if (stop_ || !error_.ok()) break;
      if (slot.state != State::Idle) continue;
      const uint32_t n = order_.next_length(handler, chunk_, &turn);
      if (n == 0) break;
      slot.src_pos = order_.next();
      slot.dst_pos = slot.src_pos + delta_;
      slot.length = n;
      slot.seq = order_.issue(n);
      start_read(slot);
    }
    for (Slot& slot : slots_) {
      if (slot.state != State::Read) continue;
      if (stop_ || !error_.ok()) slot.state = State::Idle;
      else start_writes(slot, handler);
    }
    if (busy()) {
      NbdExport::wait(src_nbd_, dst_nbd_, kWaitSlice);
    } else {
      if (turn.count() == 0 && (order_.all_issued() || stop_ || !error_.ok())) break;
      if (turn.count() > 0) std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(turn, kThrottleSlice));
    }
    if (!stop_ && error_.ok() && !handler.checkpoint(order_.frontier())) stop_ = true;
  }
  for (Slot& slot : slots_) slot.state = State::Idle;
  *frontier = order_.frontier();
  *stopped = stop_;
  return error_;
}

}  // namespace blockcopy
