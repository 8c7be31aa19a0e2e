// An NBD export as blockcopy uses it: one or more connections (several when
// the server allows multi-conn), requests queued with a callback each and
// several in flight, replies matched by cookie. Reads land straight in the
// caller's buffer and writes go from it: no copy in between.
//
// Single-threaded: requests are sent and callbacks run on the thread that
// calls wait() (or a synchronous call, which waits too). A connection that
// fails fails every request on it, and every later one.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <map>
#include <vector>

#include "extent_map.h"
#include "nbd_connection.h"
#include "nbd_reply_check.h"
#include "request.h"
#include "status.h"
#include "zeroing.h"

namespace blockcopy {

class NbdExport {
 public:
  using Done = std::function<void(const Status&)>;

  // Connects and negotiates; with multi-conn, up to `connections` in all.
  // A destination must be writable (EROFS otherwise). Each request's whole
  // reply must arrive within `timeout` of its turn (proto.md lets a server
  // answer in any order, so the clock runs for the oldest request in flight).
  Status open(const NbdAddress& address, uint32_t connections, Side side, bool writable, NbdTimeout timeout);
  const NbdExportInfo& info() const { return info_; }
  uint64_t size() const { return info_.size; }
  size_t connections() const { return conns_.size(); }
  // The largest read or write one request may carry, at most `wanted`.
  uint32_t request_limit(uint64_t wanted) const;

  // Queued requests; `done` runs inside a later wait(). At most request_limit() bytes.
  void read(uint64_t offset, uint32_t length, unsigned char* buf, Done done);
  void write(uint64_t offset, std::vector<iovec> pieces, Done done);
  size_t in_flight() const { return in_flight_; }

  // Waits up to `wait` for replies on any of `exports` and runs their callbacks.
  static void wait(NbdExport* a, NbdExport* b, std::chrono::milliseconds wait);

  // Synchronous forms, for callers that do one thing at a time.
  Status read_sync(uint64_t offset, size_t length, unsigned char* buf);
  Status write_sync(uint64_t offset, std::vector<iovec> pieces, uint64_t* written);
  Status zero_sync(uint64_t offset, uint64_t length, Zeroing* out);
  Status flush_sync();
  // [offset, offset + length) as data and extents that read as zeros (holes,
  // or zeroed blocks: neither is read), from base:allocation block status.
  Status extents(uint64_t offset, uint64_t length, std::vector<Extent>* out);

  // NBD_CMD_DISC on every connection, after waiting for what is in flight.
  void disconnect();

 private:
  struct Pending {
    uint16_t type;
    uint64_t offset;
    uint32_t length;
    unsigned char* buf;           // reads
    std::vector<Extent>* extents;  // block status
    Status error;                 // the first error chunk
    Done done;
    ReadCoverage covered;         // reads: what the chunks have filled
    int status_chunks = 0;        // block status: one per context is allowed
  };
  struct Conn {
    NbdConnection link;
    std::map<uint64_t, Pending> pending;  // by cookie, which grows: the first is the oldest
    NbdClock::time_point oldest_since;    // when the oldest request in flight became the oldest
    NbdClock::time_point reply_deadline() const { return link.timeout().after(oldest_since); }
  };

  Conn* least_busy();
  void submit(uint16_t type, uint16_t flags, uint64_t offset, uint32_t length, std::vector<iovec> payload,
              unsigned char* buf, std::vector<Extent>* extents, Done done);
  // Starts one request through `start` and waits for its callback.
  Status wait_for(const std::function<void(Done)>& start);
  Status run_sync(uint16_t type, uint16_t flags, uint64_t offset, uint32_t length, std::vector<iovec> payload,
                  unsigned char* buf, std::vector<Extent>* extents);
  Status read_reply(Conn& conn);
  Status read_simple(Conn& conn);
  Status read_chunk(Conn& conn);
  Status chunk_payload(Conn& conn, Pending& p, uint16_t type, uint32_t length);
  Status data_chunk(Conn& conn, Pending& p, uint16_t type, uint32_t length);
  Status status_chunk(Conn& conn, Pending& p, uint32_t length);
  Status error_chunk(Conn& conn, Pending& p, uint32_t length);
  Status check_complete(const Conn& conn, const Pending& p) const;
  void complete(Conn& conn, uint64_t cookie);
  void fail(Conn& conn, const Status& why);
  Status server_error(const Pending& p, uint32_t error, const std::string& message) const;

  std::vector<std::unique_ptr<Conn>> conns_;
  NbdExportInfo info_;
  Side side_ = Side::None;
  uint64_t next_cookie_ = 1;
  size_t in_flight_ = 0;
  Status failed_;  // sticky: a connection broke
};

}  // namespace blockcopy
