#include "frame_sender.h"

#include <array>
#include <vector>

#include "descriptor_io.h"
#include "frame_format.h"

namespace blockcopy {

namespace {

// Items read and framed per write: a few MiB per system call.
constexpr size_t kItemsPerBatch = 16;

// The bytes before a piece's data: a DATA frame's header and offset, or a whole HOLE frame.
using FrameHead = std::array<unsigned char, frames::kHeaderBytes + 16>;

size_t frame_head(const StreamItem& item, uint32_t id, FrameHead* head) {
  unsigned char* p = head->data();
  if (item.data) {
    frames::put_header(p, frames::Data, id, static_cast<uint32_t>(8 + item.length));
    frames::put_u64(p + frames::kHeaderBytes, item.offset);
    return frames::kHeaderBytes + 8;
  }
  frames::put_header(p, frames::Hole, id, 16);
  frames::put_u64(p + frames::kHeaderBytes, item.offset);
  frames::put_u64(p + frames::kHeaderBytes + 8, item.length);
  return frames::kHeaderBytes + 16;
}

// The preface and the BEGIN frame.
Status write_begin(Descriptor& out, const SendRequest& req, const ExtentReader& reader) {
  std::vector<unsigned char> b(frames::kPrefaceBytes + frames::kHeaderBytes + 18);
  frames::put_preface(b.data());
  unsigned char* h = b.data() + frames::kPrefaceBytes;
  frames::put_header(h, frames::Begin, req.id, static_cast<uint32_t>(18 + req.name.size()));
  frames::put_u64(h + frames::kHeaderBytes, reader.length());
  frames::put_u64(h + frames::kHeaderBytes + 8, reader.data_bound());
  frames::put_u16(h + frames::kHeaderBytes + 16, static_cast<uint16_t>(req.name.size()));
  iovec iov[2] = {{b.data(), b.size()}, {const_cast<char*>(req.name.data()), req.name.size()}};
  return out.write_all(iov, 2);
}

Status write_end(Descriptor& out, uint32_t id, const ExtentReader& reader, uint64_t data_sent) {
  unsigned char b[frames::kHeaderBytes + 16];
  frames::put_header(b, frames::End, id, 16);
  frames::put_u64(b + frames::kHeaderBytes, data_sent);
  frames::put_u64(b + frames::kHeaderBytes + 8, reader.checksum());
  iovec iov{b, sizeof b};
  return out.write_all(&iov, 1);
}

}  // namespace

TransferOutcome run_send(const SendRequest& req, CopyControl& control, ProgressSink* sink) {
  CancelScope cancel_scope(control.cancel);
  TransferOutcome outcome;
  outcome.between_frames = false;  // until BEGIN is out, there is no transfer to fail
  ReaderOptions options = req.reader;
  options.piece = frames::kMaxData;
  ExtentReader reader;
  Descriptor out(req.fd, control.cancel);
  ReportSchedule reports(control.meter, 0, req.progress_interval_ms);
  // Any write that fails may have left part of a frame behind it.
  auto sent = [&outcome](Status s) {
    outcome.between_frames = s.ok();
    return s;
  };

  Status s = req.name.size() <= frames::kMaxName ? reader.open(req.target, options)
                                                 : Status::Invalid("the transfer name is longer than 1024 bytes");
  if (s.ok()) {
    control.meter.set_totals(reader.length(), reader.length());
    s = sent(write_begin(out, req, reader));
  }
  std::vector<StreamItem> items;
  std::vector<FrameHead> heads(kItemsPerBatch);
  std::vector<iovec> iov;
  uint64_t data_sent = 0;
  while (s.ok()) {
    if (control.cancel.requested()) {
      s = Status::Sys(ECANCELED, "read", Side::None);
      break;
    }
    items.clear();
    s = reader.next(kItemsPerBatch, &items);
    if (!s.ok() || items.empty()) break;
    iov.clear();
    uint64_t data = 0, holes = 0;
    for (size_t i = 0; i < items.size(); i++) {
      const StreamItem& item = items[i];
      iov.push_back({heads[i].data(), frame_head(item, req.id, &heads[i])});
      if (item.data) iov.push_back({const_cast<unsigned char*>(item.bytes), item.length});
      (item.data ? data : holes) += item.length;
    }
    control.throttle.acquire(data, control.cancel);
    s = sent(out.write_all(iov.data(), static_cast<int>(iov.size())));
    if (!s.ok()) break;
    data_sent += data;
    control.meter.add(data + holes, data, holes);
    control.meter.reach(items.back().offset + items.back().length);
    reports.tick(control, sink);
  }
  if (s.ok()) s = sent(write_end(out, req.id, reader, data_sent));

  control.meter.finish(ProgressMeter::Clock::now());
  outcome.progress = control.meter.snapshot();
  outcome.checksum = reader.checksum();
  if (s.ok()) {
    outcome.ending = Ending::Completed;
  } else if (control.cancel.requested()) {
    outcome.ending = Ending::Cancelled;
  } else {
    outcome.status = s;
  }
  return outcome;
}

}  // namespace blockcopy
