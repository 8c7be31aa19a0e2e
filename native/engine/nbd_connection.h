// One connection to an NBD server: connect (unix socket or TCP), the fixed
// newstyle handshake ending in OPT_GO, and the framing of requests and
// replies. Every wait is bounded by a deadline the caller gives (a server that
// trickles, stalls or stops reading is ETIMEDOUT, never a hang) and wakes for
// the job's cancel (CancelScope) within a fraction of a second.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "file.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

// What OPT_GO told us about the export.
struct NbdExportInfo {
  uint64_t size = 0;
  uint16_t flags = 0;  // transmission flags
  uint32_t min_block = 1, preferred_block = 4096, max_block = 0;
  bool structured = false;
  bool has_allocation = false;  // base:allocation negotiated
  uint32_t allocation_id = 0;
};

using NbdClock = std::chrono::steady_clock;

// How long a wait for the server may last (the job's nbdTimeout; 0: no limit),
// and the deadline of a wait that starts at `from`.
struct NbdTimeout {
  std::chrono::milliseconds limit{0};
  NbdClock::time_point after(NbdClock::time_point from) const {
    return limit.count() > 0 ? from + limit : NbdClock::time_point::max();
  }
};

// What the server may put in our error messages: at most this much of its
// text, with anything unprintable replaced.
std::string peer_text(const std::string& said);

class NbdConnection {
 public:
  // `side` names the end of the copy in errors. The connect and the whole
  // handshake each get one `timeout`.
  Status connect(const NbdAddress& address, Side side, NbdTimeout timeout);
  Status handshake(const std::string& export_name, NbdExportInfo* info);

  // One request header and its payload (a write's data), sent in full by `deadline`.
  Status send_request(uint16_t flags, uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length,
                      NbdClock::time_point deadline, const iovec* payload = nullptr, int pieces = 0);
  // Exactly `length` bytes of a reply by `deadline`; EOF or a reset is the server gone.
  Status receive(void* buf, size_t length, NbdClock::time_point deadline);
  Status skip(size_t length, NbdClock::time_point deadline);

  // Between waits: ETIMEDOUT once `deadline` has passed, ECANCELED once the
  // job's cancel is a grace period old (so requests about to be answered
  // still land and the resume point stays exact), else Ok.
  Status still_waiting(NbdClock::time_point deadline, const char* syscall);
  const NbdTimeout& timeout() const { return timeout_; }

  int fd() const { return fd_.get(); }
  Side side() const { return side_; }
  void close() { fd_.reset(); }
  // A protocol violation by the server: EPROTO with `what`.
  Status broken(const std::string& what) const;

 private:
  Status connect_tcp(const std::string& host, uint16_t port, NbdClock::time_point deadline);
  Status finish_connect(int fd, const sockaddr* addr, socklen_t length, NbdClock::time_point deadline);
  Status send_all(iovec* iov, int count, NbdClock::time_point deadline);
  Status send_option(uint32_t option, const std::string& data);
  Status receive_option_reply(uint32_t option, uint32_t* type, std::string* payload);
  Status negotiate_structured(NbdExportInfo* info);
  Status negotiate_allocation(const std::string& export_name, NbdExportInfo* info);
  Status go(const std::string& export_name, NbdExportInfo* info);
  Status option_refused(uint32_t type, const std::string& message, const std::string& export_name) const;

  Fd fd_;
  Side side_ = Side::None;
  NbdTimeout timeout_;
  NbdClock::time_point handshake_deadline_{};
  std::optional<NbdClock::time_point> cancel_seen_;
};

}  // namespace blockcopy
