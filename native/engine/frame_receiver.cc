#include "frame_receiver.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "aligned_buffer.h"
#include "descriptor_io.h"
#include "frame_format.h"

namespace blockcopy {

namespace {

using namespace frames;

// Room for many frames, so each fill ends in one gathered write.
constexpr size_t kBufferBytes = 4 << 20;
constexpr uint64_t kMaxSafe = (1ULL << 53) - 1;  // what JS numbers hold exactly

// The same errors, in the same words, as lib/stream's receiver.
Status broken(const std::string& message) { return Status::Coded("ERR_BLOCKCOPY_STREAM", message); }
Status lost(const char* when) { return Status::Coded("ECONNRESET", std::string("the connection closed ") + when); }
Status mismatch(const std::string& message) { return Status::Coded("ERR_BLOCKCOPY_CHECKSUM", message); }

std::string num(uint64_t v) { return std::to_string(v); }

std::string hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016" PRIx64, v);
  return b;
}

const char* type_name(uint8_t type) {
  switch (type) {
    case Begin: return "BEGIN";
    case Data: return "DATA";
    case Hole: return "HOLE";
    case End: return "END";
    case Error: return "ERROR";
    case Digests: return "DIGESTS";
    case Same: return "SAME";
    default: return "OK";
  }
}

struct Header {
  uint32_t length;
  uint8_t type;
  uint8_t flags;
  uint32_t id;
};

class Receiver {
 public:
  Receiver(const ReceiveRequest& req, CopyControl& control, ProgressSink* sink)
      : req_(req), control_(control), sink_(sink), in_(req.fd, control.cancel), buf_(kBufferBytes),
        reports_(control.meter, 0, req.progress_interval_ms) {}

  TransferOutcome run();

 private:
  size_t buffered() const { return end_ - start_; }
  const unsigned char* at() const { return buf_.data() + start_; }
  bool in_transfer() const { return id_ != 0 && !ended_; }

  Status receive();
  Status need(size_t n, bool* eof);
  Status fill(bool* eof);
  Status check_preface();
  Status check_header(Header* h) const;
  Status on_begin(const Header& h, const unsigned char* p);
  Status on_piece(const Header& h, const unsigned char* p);
  Status on_end(const Header& h, const unsigned char* p);
  Status on_error(const Header& h, const unsigned char* p) const;
  Status place(uint64_t offset, uint64_t length, const char* what);
  Status apply_pending();
  Status nothing_follows();

  const ReceiveRequest& req_;
  CopyControl& control_;
  ProgressSink* sink_;
  Descriptor in_;
  AlignedBuffer buf_;
  size_t start_ = 0, end_ = 0;  // the bytes read and not yet parsed
  ReportSchedule reports_;

  ExtentWriter writer_;
  bool opened_ = false, ended_ = false;
  uint32_t id_ = 0;  // the transfer, once BEGIN came
  std::string name_;
  uint64_t size_ = 0, position_ = 0, data_ = 0, checksum_ = 0;
  uint64_t applied_ = 0;  // image bytes below here are written (or zeroed): pieces apply in order
  std::vector<ImagePiece> pending_;  // checked pieces, pointing into buf_, not yet written
  uint64_t pending_data_ = 0, pending_holes_ = 0;
};

TransferOutcome Receiver::run() {
  TransferOutcome outcome;
  Status s = buf_.ok() ? receive() : Status::Sys(ENOMEM, "malloc", Side::None);
  control_.meter.finish(ProgressMeter::Clock::now());
  outcome.progress = control_.meter.snapshot();
  outcome.name = name_;
  outcome.checksum = checksum_;
  if (s.ok()) {
    outcome.ending = Ending::Completed;
    outcome.progress.bytes_written = writer_.bytes_written();
    return outcome;
  }
  // A file this transfer created and never wrote goes again; one it wrote
  // keeps its prefix, flushed, and says where a second transfer may start.
  if (opened_ && !writer_.changed_anything()) {
    writer_.abandon();
  } else if (opened_) {
    outcome.resume_offset = writer_.stop_durably_at(applied_).ok() ? applied_ : 0;
  }
  if (control_.cancel.requested()) {
    outcome.ending = Ending::Cancelled;
  } else {
    outcome.status = s;
  }
  return outcome;
}

Status Receiver::receive() {
  in_.widen_pipe();
  Status s = check_preface();
  while (s.ok() && !ended_) {
    if (control_.cancel.requested()) return Status::Sys(ECANCELED, "read", Side::None);
    bool eof = false;
    s = need(kHeaderBytes, &eof);
    Header h{};
    if (s.ok() && !eof) s = check_header(&h);
    if (s.ok() && !eof) s = need(kHeaderBytes + h.length, &eof);
    if (!s.ok()) return s;
    if (eof) return lost(id_ ? "in the middle of a transfer" : "before any image began");
    const unsigned char* p = at() + kHeaderBytes;
    start_ += kHeaderBytes + h.length;  // p stays valid: the buffer moves only after pending pieces are written
    switch (h.type) {
      case Begin: s = on_begin(h, p); break;
      case Data:
      case Hole: s = on_piece(h, p); break;
      case End: s = on_end(h, p); break;
      case Error: s = on_error(h, p); break;
      case Digests:
      case Same: s = broken(std::string("a ") + type_name(h.type) + " frame: resuming takes a two-way stream, and this one carries no answers"); break;
      default: s = broken("an OK answer arrived for transfer " + num(h.id) + ", but this end sent nothing");
    }
  }
  return s.ok() ? nothing_follows() : s;
}

// At least n unparsed bytes in the buffer, unless the input ends first.
Status Receiver::need(size_t n, bool* eof) {
  *eof = false;
  while (buffered() < n) {
    Status s = fill(eof);
    if (!s.ok() || *eof) return s;
  }
  return Status::Ok();
}

Status Receiver::fill(bool* eof) {
  if (buf_.size() - end_ < kMaxFrame) {
    // Too little room for the largest frame: write what is checked, then move the rest to the front.
    Status s = apply_pending();
    if (!s.ok()) return s;
    std::memmove(buf_.data(), at(), buffered());
    end_ -= start_;
    start_ = 0;
  }
  size_t got = 0;
  bool would_block = false;
  Status s = in_.try_read(buf_.data() + end_, buf_.size() - end_, &got, &would_block);
  if (s.ok() && would_block) {
    // The sender is behind: a good moment to write what has arrived.
    s = apply_pending();
    const uint32_t idle = in_transfer() ? req_.idle_timeout_ms : 0;
    if (s.ok()) s = in_.read_some(buf_.data() + end_, buf_.size() - end_, &got, idle);
    if (s.err == ETIMEDOUT && s.kind == ErrorKind::System) {
      return Status::Coded("ETIMEDOUT", "ETIMEDOUT: transfer " + num(id_) + " received nothing for " + num(idle / 1000) + " s");
    }
  }
  if (!s.ok()) return s;
  end_ += got;
  *eof = got == 0;
  return Status::Ok();
}

Status Receiver::check_preface() {
  bool eof = false;
  Status s = need(kPrefaceBytes, &eof);
  if (!s.ok()) return s;
  // Wrong magic is refused on what arrived, however little.
  if (std::memcmp(at(), kMagic, std::min(buffered(), sizeof kMagic)) != 0) return broken("not a blockcopy stream (wrong magic)");
  if (eof) return lost("before any image began");
  const uint32_t version = get_u32(at() + 8);
  if (version != kVersion) {
    return broken("stream format version " + num(version) + " is not supported (this is version " + num(kVersion) + ")");
  }
  if (get_u32(at() + 12) != 0) return broken("unknown preface flags");
  start_ += kPrefaceBytes;
  return Status::Ok();
}

// Checked before any of the payload is read, so a reader holds one frame at most.
Status Receiver::check_header(Header* h) const {
  const unsigned char* p = at();
  h->length = get_u32(p);
  h->type = p[4];
  h->flags = p[5];
  h->id = get_u32(p + 8);
  const uint32_t limit = max_payload(h->type);
  const std::string type = num(h->type);
  if (limit == 0) return broken("unknown frame type " + type);
  if (h->length > limit) return broken("frame type " + type + " declares " + num(h->length) + " payload bytes, more than its limit of " + num(limit));
  if (get_u16(p + 6) != 0) return broken("reserved header bits are set");
  if (h->type == Begin && h->flags == kResume) {
    return broken("the sender asks to resume, which takes a two-way stream (a socket): this one carries no answers");
  }
  const bool reply_allowed = h->type == Error || h->type == Ok || h->type == Digests;
  if ((h->flags & ~kReply) || (h->flags == kReply && !reply_allowed) || ((h->type == Ok || h->type == Digests) && h->flags != kReply)) {
    return broken("frame type " + type + " with flags " + num(h->flags));
  }
  if (h->id == 0 && h->type != Error) return broken("transfer id 0 is only for connection errors");
  if (h->type == Data && h->length <= 8) return broken("DATA frame without data");
  return Status::Ok();
}

Status payload_is(const Header& h, uint32_t expected) {
  if (h.length == expected) return Status::Ok();
  return broken("frame type " + num(h.type) + " has " + num(h.length) + " payload bytes, expected " + num(expected));
}

Status beyond(uint64_t value, const char* what) {
  if (value <= kMaxSafe) return Status::Ok();
  return broken(std::string(what) + " " + num(value) + " is beyond what blockcopy handles (2^53 - 1)");
}

Status Receiver::on_begin(const Header& h, const unsigned char* p) {
  if (id_ == h.id) return broken("transfer " + num(h.id) + " began twice");
  if (id_ != 0) return broken("a second image began (transfer " + num(h.id) + "): this end takes one image per stream");
  if (h.length < 18) return broken("BEGIN frame too short (" + num(h.length) + " bytes)");
  Status s = payload_is(h, 18 + get_u16(p + 16));
  if (s.ok()) s = beyond(get_u64(p), "image size");
  if (s.ok()) s = beyond(get_u64(p + 8), "data bytes");
  if (!s.ok()) return s;
  id_ = h.id;
  size_ = get_u64(p);
  name_.assign(reinterpret_cast<const char*>(p + 18), h.length - 18);
  WriterOptions options = req_.writer;
  options.range.length = size_;
  s = writer_.open(req_.target, options);
  if (!s.ok()) return s;
  opened_ = true;
  control_.meter.set_totals(size_, size_);
  reports_.tick(control_, sink_);
  return Status::Ok();
}

// Pieces in order, without gaps or overlaps, inside the image.
Status Receiver::place(uint64_t offset, uint64_t length, const char* what) {
  Status s = beyond(offset, "offset");
  if (!s.ok()) return s;
  const std::string where = std::string(what) + " at " + num(offset);
  if (offset < position_) return broken(where + " overlaps or precedes what came before (next offset is " + num(position_) + ")");
  if (length > size_ || offset > size_ - length) {
    return broken(where + " of " + num(length) + " bytes reaches past the image's end (" + num(size_) + " bytes)");
  }
  if (offset != position_) return broken(where + " leaves bytes " + num(position_) + "-" + num(offset) + " undescribed");
  position_ = offset + length;
  return Status::Ok();
}

Status Receiver::on_piece(const Header& h, const unsigned char* p) {
  if (h.id != id_) return broken(std::string("a ") + type_name(h.type) + " frame for transfer " + num(h.id) + ", which never began");
  Status s = h.type == Data ? Status::Ok() : payload_is(h, 16);
  if (!s.ok()) return s;
  const uint64_t offset = get_u64(p);
  if (h.type == Data) {
    const uint64_t length = h.length - 8;
    s = place(offset, length, "data");
    if (!s.ok()) return s;
    pending_.push_back({true, offset, length, p + 8});
    pending_data_ += length;
    data_ += length;
    return Status::Ok();
  }
  const uint64_t length = get_u64(p + 8);
  if (length == 0) return broken("hole of 0 bytes");
  s = beyond(length, "hole length");
  if (s.ok()) s = place(offset, length, "hole");
  if (!s.ok()) return s;
  pending_.push_back({false, offset, length, nullptr});
  pending_holes_ += length;
  return Status::Ok();
}

Status Receiver::apply_pending() {
  if (pending_.empty()) return Status::Ok();
  const uint64_t zeroed_before = writer_.zeroing().bytes;
  Status s = writer_.apply(pending_);
  if (!s.ok()) return s;
  applied_ = pending_.back().rel + pending_.back().length;
  // Holes over old data were zeroed, not skipped.
  const Zeroing zeroed{writer_.zeroing().bytes - zeroed_before, writer_.zeroing().methods};
  control_.meter.add(pending_data_ + pending_holes_, pending_data_, pending_holes_ - zeroed.bytes);
  control_.meter.add_zeroing(zeroed);
  control_.meter.reach(pending_.back().rel + pending_.back().length);
  pending_.clear();
  pending_data_ = pending_holes_ = 0;
  reports_.tick(control_, sink_);
  return Status::Ok();
}

// The END frame: the image was covered, then written and flushed, and what
// the sender counted and summed is what this end wrote.
Status Receiver::on_end(const Header& h, const unsigned char* p) {
  if (h.id != id_) return broken("a END frame for transfer " + num(h.id) + ", which never began");
  Status s = payload_is(h, 16);
  if (!s.ok()) return s;
  if (position_ != size_) return broken("the stream ended at byte " + num(position_) + " of a " + num(size_) + "-byte image");
  const uint64_t sent_data = get_u64(p), sent_sum = get_u64(p + 8);
  s = apply_pending();
  if (s.ok()) s = writer_.finish();
  if (!s.ok()) {
    applied_ = 0;  // the last writes, the final size, the flush or the read-back failed: no prefix is promised
    return s;
  }
  if (sent_data != data_) return mismatch("the sender counted " + num(sent_data) + " data bytes, " + num(data_) + " arrived");
  if (sent_sum != writer_.checksum()) {
    return mismatch("checksum mismatch: the sender's is " + hex(sent_sum) + ", the data that arrived sums to " + hex(writer_.checksum()));
  }
  checksum_ = sent_sum;
  ended_ = true;
  return Status::Ok();
}

Status Receiver::on_error(const Header& h, const unsigned char* p) const {
  if (h.flags == kReply) return broken("an ERROR answer arrived for transfer " + num(h.id) + ", but this end sent nothing");
  if (h.id != 0 && h.id != id_) return broken("a ERROR frame for transfer " + num(h.id) + ", which never began");
  if (h.length < 4) return broken("ERROR frame too short");
  const uint16_t code_length = get_u16(p), message_length = get_u16(p + 2);
  Status s = payload_is(h, 4u + code_length + message_length);
  if (!s.ok()) return s;
  const auto* text = reinterpret_cast<const char*>(p + 4);
  return Status::Remote(std::string(text, code_length), std::string(text + code_length, message_length));
}

// The image is in: the input should end now, not carry on.
Status Receiver::nothing_follows() {
  auto after_end = [](size_t n) { return broken("the stream goes on after the image's END (at least " + num(n) + " more bytes)"); };
  if (buffered() > 0) return after_end(buffered());
  bool readable = false;
  Status s = in_.wait_readable(static_cast<int>(req_.trailing_grace_ms), &readable);
  if (!s.ok() || !readable) return s;
  size_t got = 0;
  bool would_block = false;
  s = in_.try_read(buf_.data(), buf_.size(), &got, &would_block);
  if (!s.ok()) return s;
  return got > 0 ? after_end(got) : Status::Ok();
}

}  // namespace

TransferOutcome run_receive(const ReceiveRequest& req, CopyControl& control, ProgressSink* sink) {
  CancelScope cancel_scope(control.cancel);
  return Receiver(req, control, sink).run();
}

}  // namespace blockcopy
