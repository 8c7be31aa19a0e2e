#include "nbd_export.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nbd_protocol.h"

namespace blockcopy {

using nbd::get16;
using nbd::get32;
using nbd::get64;

namespace {

// Block status asks for this much at a time (the server may answer for less).
constexpr uint64_t kStatusPiece = 1ull << 30;
// Zeroing without WRITE_ZEROES writes zeros in pieces this big.
constexpr size_t kZeroBuffer = 1 << 20;
// A block status reply with more extents than this is a server trying to make
// us allocate without bound.
constexpr uint32_t kMaxDescriptors = 1 << 20;
constexpr std::chrono::milliseconds kSyncSlice{100};


// NBD's error values are Linux's errno numbers for the few it defines; any
// other value is to be read as EINVAL (proto.md).
int errno_of(uint32_t error) {
  switch (error) {
    case EPERM: case EIO: case ENOMEM: case EINVAL: case ENOSPC: case EOVERFLOW: case ENOTSUP: case ESHUTDOWN:
      return static_cast<int>(error);
    default:
      return EINVAL;
  }
}

const char* syscall_of(uint16_t type) {
  switch (type) {
    case nbd::kCmdRead: return "read";
    case nbd::kCmdWrite: return "write";
    case nbd::kCmdFlush: return "flush";
    case nbd::kCmdWriteZeroes: return "write_zeroes";
    case nbd::kCmdBlockStatus: return "block_status";
    default: return "nbd";
  }
}

}  // namespace

Status NbdExport::open(const NbdAddress& address, uint32_t connections, Side side, bool writable, NbdTimeout timeout) {
  side_ = side;
  for (uint32_t i = 0; i < std::max<uint32_t>(connections, 1); i++) {
    auto conn = std::make_unique<Conn>();
    NbdExportInfo info;
    Status s = conn->link.connect(address, side, timeout);
    if (s.ok()) s = conn->link.handshake(address.export_name, &info);
    // A server that takes fewer clients than it lets share an export: go on with those it took.
    if (!s.ok() && i > 0) break;
    if (!s.ok()) return s;
    if (i == 0) {
      info_ = info;
      if (writable && (info.flags & nbd::kTxReadOnly))
        return Status::Sys(EROFS, "connect", side, "the NBD export is read-only");
    }
    conns_.push_back(std::move(conn));
    // More connections only where the server says they see each other's writes.
    if (!(info_.flags & nbd::kTxCanMultiConn)) break;
  }
  return Status::Ok();
}

uint32_t NbdExport::request_limit(uint64_t wanted) const {
  // Room for a read rounded out to whole blocks at both ends (read()).
  const uint64_t rounding = info_.min_block > 1 ? 2ull * info_.min_block : 0;
  const uint64_t limit = std::min<uint64_t>(wanted, info_.max_block - std::min<uint64_t>(rounding, info_.max_block / 2));
  return static_cast<uint32_t>(std::max<uint64_t>(limit / info_.min_block * info_.min_block, info_.min_block));
}

// ---- sending -----------------------------------------------------------------------

NbdExport::Conn* NbdExport::least_busy() {
  Conn* best = conns_.front().get();
  for (auto& c : conns_)
    if (c->pending.size() < best->pending.size()) best = c.get();
  return best;
}

void NbdExport::submit(uint16_t type, uint16_t flags, uint64_t offset, uint32_t length, std::vector<iovec> payload,
                       unsigned char* buf, std::vector<Extent>* extents, Done done) {
  if (!failed_.ok()) {
    done(failed_);
    return;
  }
  Conn& conn = *least_busy();
  const uint64_t cookie = next_cookie_++;
  const auto now = NbdClock::now();
  if (conn.pending.empty()) conn.oldest_since = now;
  conn.pending.emplace(cookie, Pending{type, offset, length, buf, extents, Status::Ok(), std::move(done), {}, 0});
  in_flight_++;
  Status s = conn.link.send_request(flags, type, cookie, offset, length, conn.link.timeout().after(now), payload.data(),
                                    static_cast<int>(payload.size()));
  if (!s.ok()) fail(conn, s);
}

// A server with a minimum block size may refuse a read that does not start and
// end on one: such a read asks for the whole blocks around it, into a buffer
// of its own, and hands on the part asked for. (The export's last block may be
// short: a request may end at the export's end.)
void NbdExport::read(uint64_t offset, uint32_t length, unsigned char* buf, Done done) {
  const uint64_t block = info_.min_block;
  const uint64_t from = offset / block * block;
  const uint64_t to = std::min((offset + length + block - 1) / block * block, std::max(info_.size, offset + length));
  if (from == offset && to == offset + length) {
    submit(nbd::kCmdRead, 0, offset, length, {}, buf, nullptr, std::move(done));
    return;
  }
  auto whole = std::make_shared<std::vector<unsigned char>>(to - from);
  unsigned char* into = whole->data();
  submit(nbd::kCmdRead, 0, from, static_cast<uint32_t>(to - from), {}, into, nullptr,
         [whole, buf, skip = offset - from, length, done = std::move(done)](const Status& s) {
           if (s.ok()) std::memcpy(buf, whole->data() + skip, length);
           done(s);
         });
}

void NbdExport::write(uint64_t offset, std::vector<iovec> pieces, Done done) {
  uint64_t length = 0;
  for (const iovec& v : pieces) length += v.iov_len;
  submit(nbd::kCmdWrite, 0, offset, static_cast<uint32_t>(length), std::move(pieces), nullptr, nullptr, std::move(done));
}

// ---- replies -----------------------------------------------------------------------

void NbdExport::wait(NbdExport* a, NbdExport* b, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  std::vector<std::pair<NbdExport*, Conn*>> owners;
  for (NbdExport* e : {a, b}) {
    if (!e) continue;
    for (auto& c : e->conns_) {
      if (c->pending.empty() || c->link.fd() < 0) continue;
      fds.push_back({c->link.fd(), POLLIN, 0});
      owners.push_back({e, c.get()});
    }
  }
  if (fds.empty()) return;
  const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  for (size_t i = 0; i < fds.size(); i++) {
    auto [e, conn] = owners[i];
    Status s = ready > 0 && fds[i].revents ? e->read_reply(*conn) : Status::Ok();
    // Replies that keep coming do not excuse the oldest request, and a
    // cancelled job does not wait for a stalled server.
    if (s.ok() && !conn->pending.empty()) s = conn->link.still_waiting(conn->reply_deadline(), "recv");
    if (!s.ok()) e->fail(*conn, s);
  }
}

Status NbdExport::read_reply(Conn& conn) {
  char magic[4];
  Status s = conn.link.receive(magic, 4, conn.reply_deadline());
  if (!s.ok()) return s;
  const uint32_t m = get32(magic);
  if (m == nbd::kSimpleReplyMagic) return read_simple(conn);
  if (m == nbd::kStructuredReplyMagic && info_.structured) return read_chunk(conn);
  return conn.link.broken("a reply with bad magic");
}

Status NbdExport::read_simple(Conn& conn) {
  char rest[12];
  Status s = conn.link.receive(rest, sizeof rest, conn.reply_deadline());
  if (!s.ok()) return s;
  const uint64_t cookie = get64(rest + 4);
  auto it = conn.pending.find(cookie);
  if (it == conn.pending.end()) return conn.link.broken("a reply to a request never made");
  Pending& p = it->second;
  const uint32_t error = get32(rest);
  if (error) {
    p.error = server_error(p, error, "");
  } else if (p.type == nbd::kCmdBlockStatus) {
    return conn.link.broken("block status answered without structured reply");
  } else if (p.type == nbd::kCmdRead) {
    // Simple replies carry a read's data only without structured replies.
    if (info_.structured) return conn.link.broken("a read answered without structured reply");
    s = conn.link.receive(p.buf, p.length, conn.reply_deadline());
    if (!s.ok()) return s;
  }
  complete(conn, cookie);
  return Status::Ok();
}

Status NbdExport::read_chunk(Conn& conn) {
  char rest[16];
  Status s = conn.link.receive(rest, sizeof rest, conn.reply_deadline());
  if (!s.ok()) return s;
  const uint16_t flags = get16(rest);
  const uint16_t type = get16(rest + 2);
  const uint64_t cookie = get64(rest + 4);
  const uint32_t length = get32(rest + 12);
  auto it = conn.pending.find(cookie);
  if (it == conn.pending.end()) return conn.link.broken("a reply to a request never made");
  s = chunk_payload(conn, it->second, type, length);
  if (s.ok() && (flags & nbd::kReplyFlagDone)) s = check_complete(conn, it->second);
  if (!s.ok()) return s;  // the connection fails, and with it this request: nothing of it is used
  if (flags & nbd::kReplyFlagDone) complete(conn, cookie);
  return Status::Ok();
}

// The reply has ended: a read that succeeded must have had every byte of it
// sent exactly once (chunks never overlap, so counting is enough), and block
// status must have said something.
Status NbdExport::check_complete(const Conn& conn, const Pending& p) const {
  if (!p.error.ok()) return Status::Ok();
  if (p.type == nbd::kCmdRead && p.covered.bytes() != p.length)
    return conn.link.broken("a read of " + std::to_string(p.length) + " bytes at " + std::to_string(p.offset) +
                            " answered with " + std::to_string(p.covered.bytes()) + " of them");
  if (p.type == nbd::kCmdBlockStatus && p.status_chunks == 0)
    return conn.link.broken("block status of " + std::to_string(p.length) + " bytes at " + std::to_string(p.offset) +
                            " answered with no extent");
  return Status::Ok();
}

Status NbdExport::chunk_payload(Conn& conn, Pending& p, uint16_t type, uint32_t length) {
  NbdConnection& link = conn.link;
  if (type == nbd::kChunkNone) return length == 0 ? Status::Ok() : link.broken("a NONE chunk with a payload");
  if (type == nbd::kChunkOffsetData || type == nbd::kChunkOffsetHole) return data_chunk(conn, p, type, length);
  if (type == nbd::kChunkBlockStatus) return status_chunk(conn, p, length);
  if (type & nbd::kChunkErrorBit) return error_chunk(conn, p, length);
  if (length > 65536) return link.broken("an unknown chunk of " + std::to_string(length) + " bytes");
  return link.skip(length, conn.reply_deadline());  // a chunk type we did not ask for, but harmless
}

Status NbdExport::data_chunk(Conn& conn, Pending& p, uint16_t type, uint32_t length) {
  NbdConnection& link = conn.link;
  const uint32_t fixed = type == nbd::kChunkOffsetData ? 8 : 12;
  if (p.type != nbd::kCmdRead || length < fixed) return link.broken("a data chunk that does not fit its request");
  char head[12];
  Status s = link.receive(head, fixed, conn.reply_deadline());
  if (!s.ok()) return s;
  const uint64_t at = get64(head);
  const uint64_t n = type == nbd::kChunkOffsetData ? length - fixed : get32(head + 8);
  if (at < p.offset || n > p.length || at - p.offset > p.length - n)
    return link.broken("a data chunk outside its request");
  if (!p.covered.add(at - p.offset, n))
    return link.broken("data chunks that overlap within a read of " + std::to_string(p.length) + " bytes at " +
                       std::to_string(p.offset));
  if (type == nbd::kChunkOffsetHole) {
    std::memset(p.buf + (at - p.offset), 0, n);
    return Status::Ok();
  }
  return link.receive(p.buf + (at - p.offset), n, conn.reply_deadline());
}

Status NbdExport::status_chunk(Conn& conn, Pending& p, uint32_t length) {
  NbdConnection& link = conn.link;
  if (p.type != nbd::kCmdBlockStatus || length < 12 || (length - 4) % 8 != 0 || (length - 4) / 8 > kMaxDescriptors)
    return link.broken("a block status chunk of " + std::to_string(length) + " bytes");
  std::string body(length, '\0');
  Status s = link.receive(body.data(), length, conn.reply_deadline());
  if (!s.ok()) return s;
  const uint32_t context = get32(body.data());
  if (!info_.has_allocation || context != info_.allocation_id)
    return link.broken("block status for context " + std::to_string(context) + ", which was not negotiated");
  if (p.status_chunks++ > 0) return link.broken("a second block status chunk for one request and context");
  std::string why;
  read_status_extents(body.data() + 4, (length - 4) / 8, p.offset, p.length, p.extents, &why);
  return why.empty() ? Status::Ok() : link.broken(why);
}

Status NbdExport::error_chunk(Conn& conn, Pending& p, uint32_t length) {
  NbdConnection& link = conn.link;
  if (length < 6 || length > 65536) return link.broken("an error chunk of " + std::to_string(length) + " bytes");
  std::string body(length, '\0');
  Status s = link.receive(body.data(), length, conn.reply_deadline());
  if (!s.ok()) return s;
  const uint16_t message_length = get16(body.data() + 4);
  if (6u + message_length > length) return link.broken("an error chunk whose message does not fit");
  if (p.error.ok()) p.error = server_error(p, get32(body.data()), body.substr(6, message_length));
  return Status::Ok();
}

Status NbdExport::server_error(const Pending& p, uint32_t error, const std::string& message) const {
  const int err = errno_of(error);
  std::string detail = std::string(std::strerror(err)) + " (the NBD server failed the " + syscall_of(p.type) +
                       " of " + std::to_string(p.length) + " bytes at " + std::to_string(p.offset) + ")";
  if (!message.empty()) detail += ": " + peer_text(message);
  return Status::Sys(err, syscall_of(p.type), side_, detail);
}

void NbdExport::complete(Conn& conn, uint64_t cookie) {
  auto it = conn.pending.find(cookie);
  if (it == conn.pending.begin()) conn.oldest_since = NbdClock::now();  // the next one's turn starts now
  Pending p = std::move(it->second);
  conn.pending.erase(it);
  in_flight_--;
  p.done(p.error);
}

void NbdExport::fail(Conn& conn, const Status& why) {
  if (failed_.ok()) failed_ = why;
  conn.link.close();  // no more bytes land in anyone's buffer
  std::map<uint64_t, Pending> pending;
  pending.swap(conn.pending);
  in_flight_ -= pending.size();
  for (auto& [cookie, p] : pending) p.done(failed_);
}

// ---- one at a time -------------------------------------------------------------------

Status NbdExport::run_sync(uint16_t type, uint16_t flags, uint64_t offset, uint32_t length, std::vector<iovec> payload,
                           unsigned char* buf, std::vector<Extent>* extents) {
  return wait_for([&](Done done) { submit(type, flags, offset, length, std::move(payload), buf, extents, std::move(done)); });
}

Status NbdExport::wait_for(const std::function<void(Done)>& start) {
  bool finished = false;
  Status result;
  start([&](const Status& s) {
    result = s;
    finished = true;
  });
  while (!finished) wait(this, nullptr, kSyncSlice);
  return result;
}

Status NbdExport::read_sync(uint64_t offset, size_t length, unsigned char* buf) {
  for (size_t done = 0; done < length;) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(request_limit(length - done), length - done));
    Status s = wait_for([&](Done finished) { read(offset + done, n, buf + done, std::move(finished)); });
    if (!s.ok()) return s;
    done += n;
  }
  return Status::Ok();
}

// Cut into requests the server takes, all sent before the first reply is
// awaited, so a gathered write costs one round trip, not one per request.
Status NbdExport::write_sync(uint64_t offset, std::vector<iovec> pieces, uint64_t* written) {
  *written = 0;
  const uint32_t limit = request_limit(UINT32_MAX);
  Status first;
  size_t outstanding = 0;
  uint64_t at = offset;
  size_t i = 0, used = 0;  // piece i, of which `used` bytes are sent
  while (i < pieces.size()) {
    std::vector<iovec> request;
    uint64_t n = 0;
    while (i < pieces.size() && n < limit) {
      const size_t take = std::min<uint64_t>(pieces[i].iov_len - used, limit - n);
      request.push_back({static_cast<char*>(pieces[i].iov_base) + used, take});
      n += take;
      used += take;
      if (used == pieces[i].iov_len) {
        i++;
        used = 0;
      }
    }
    outstanding++;
    submit(nbd::kCmdWrite, 0, at, static_cast<uint32_t>(n), std::move(request), nullptr, nullptr,
           [&, n](const Status& s) {
             outstanding--;
             if (s.ok()) *written += n;
             else if (first.ok()) first = s;
           });
    at += n;
  }
  while (outstanding > 0) wait(this, nullptr, kSyncSlice);
  return first;
}

Status NbdExport::zero_sync(uint64_t offset, uint64_t length, Zeroing* out) {
  if (info_.flags & nbd::kTxSendWriteZeroes) {
    // Without NO_HOLE: the server may punch a hole, which is what a hole should become.
    const uint64_t piece = kStatusPiece / info_.min_block * info_.min_block;
    for (uint64_t done = 0; done < length;) {
      const uint32_t n = static_cast<uint32_t>(std::min(piece, length - done));
      Status s = run_sync(nbd::kCmdWriteZeroes, 0, offset + done, n, {}, nullptr, nullptr);
      if (!s.ok()) return s;
      out->add(ZeroMethod::WriteZeroes, n);
      done += n;
    }
    return Status::Ok();
  }
  std::vector<unsigned char> zeros(std::min<uint64_t>(kZeroBuffer, length));
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), length - done));
    uint64_t written = 0;
    Status s = write_sync(offset + done, {{zeros.data(), n}}, &written);
    out->add(ZeroMethod::ZerosWritten, written);
    if (!s.ok()) return s;
    done += n;
  }
  return Status::Ok();
}

Status NbdExport::flush_sync() {
  if (!(info_.flags & nbd::kTxSendFlush)) return Status::Ok();  // nothing cached that a flush would write
  return run_sync(nbd::kCmdFlush, 0, 0, 0, {}, nullptr, nullptr);
}

Status NbdExport::extents(uint64_t offset, uint64_t length, std::vector<Extent>* out) {
  out->clear();
  if (!info_.has_allocation) {
    append_extent(out, offset, length, true);
    return Status::Ok();
  }
  const uint64_t end = offset + length;
  const uint64_t block = info_.min_block;
  const uint64_t piece = kStatusPiece / block * block;
  // Asked for on the server's block grid (the export's end may be off it), then cut to the range.
  const uint64_t asked_end = std::min((end + block - 1) / block * block, std::max(info_.size, end));
  for (uint64_t at = offset / block * block; at < end;) {
    const uint32_t n = static_cast<uint32_t>(std::min(piece, asked_end - at));
    std::vector<Extent> got;
    Status s = run_sync(nbd::kCmdBlockStatus, 0, at, n, {}, nullptr, &got);
    if (!s.ok()) return s;
    for (const Extent& e : got) {
      const uint64_t from = std::max(e.offset, offset), to = std::min(e.offset + e.length, end);
      if (from < to) append_extent(out, from, to - from, e.data);
    }
    // A reply may cover less than asked (checked contiguous from `at`): ask again from its end,
    // or from the block it ends in, where that still moves on.
    const uint64_t got_end = got.back().offset + got.back().length;
    at = got_end / block * block > at ? got_end / block * block : got_end;
  }
  return Status::Ok();
}

void NbdExport::disconnect() {
  while (in_flight_ > 0 && failed_.ok()) wait(this, nullptr, kSyncSlice);
  for (auto& c : conns_) {
    if (c->link.fd() >= 0) c->link.send_request(0, nbd::kCmdDisconnect, 0, 0, 0, c->link.timeout().after(NbdClock::now()));
    c->link.close();
  }
}

}  // namespace blockcopy
