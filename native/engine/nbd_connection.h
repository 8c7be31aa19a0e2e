// One connection to an NBD server: connect (unix socket or TCP), the fixed
// newstyle handshake ending in OPT_GO, and the framing of requests and
// replies. Every wait is bounded: a server that stops answering or stops
// reading is an error after nbd_timeout(), never a hang.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
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

// How long one request may wait for its reply, and a send for the server to
// read: 30 s, or BLOCKCOPY_NBD_TIMEOUT_MS (tests use a short one).
std::chrono::milliseconds nbd_timeout();

class NbdConnection {
 public:
  // `side` names the end of the copy in errors.
  Status connect(const NbdAddress& address, Side side);
  Status handshake(const std::string& export_name, NbdExportInfo* info);

  // One request header and its payload (a write's data), sent in full.
  Status send_request(uint16_t flags, uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length,
                      const iovec* payload = nullptr, int pieces = 0);
  // Exactly `length` bytes of a reply; EOF or a reset is the server gone.
  Status receive(void* buf, size_t length);
  Status skip(size_t length);

  int fd() const { return fd_.get(); }
  Side side() const { return side_; }
  void close() { fd_.reset(); }
  // A protocol violation by the server: EPROTO with `what`.
  Status broken(const std::string& what) const;

 private:
  Status send_all(iovec* iov, int count);
  Status send_option(uint32_t option, const std::string& data);
  Status receive_option_reply(uint32_t option, uint32_t* type, std::string* payload);
  Status negotiate_structured(NbdExportInfo* info);
  Status negotiate_allocation(const std::string& export_name, NbdExportInfo* info);
  Status go(const std::string& export_name, NbdExportInfo* info);
  Status option_refused(uint32_t type, const std::string& message, const std::string& export_name) const;

  Fd fd_;
  Side side_ = Side::None;
};

}  // namespace blockcopy
