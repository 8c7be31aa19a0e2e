#include "fault_injection.h"

#ifdef BLOCKCOPY_FAULT_INJECTION

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace blockcopy {

namespace {
struct Fault {
  bool armed = false;
  FaultOp op = FaultOp::Read;
  uint64_t offset = 0;
};

Fault parse() {
  Fault f;
  const char* spec = std::getenv("BLOCKCOPY_FAULT");
  if (!spec) return f;
  const char* colon = std::strchr(spec, ':');
  if (!colon) return f;
  f.op = std::strncmp(spec, "corrupt", 7) == 0     ? FaultOp::Corrupt
         : std::strncmp(spec, "writeback", 9) == 0 ? FaultOp::Writeback
         : std::strncmp(spec, "write", 5) == 0   ? FaultOp::Write
                                                 : FaultOp::Read;
  f.offset = std::strtoull(colon + 1, nullptr, 10);
  f.armed = true;
  return f;
}

const Fault& chosen() {
  static const Fault fault = parse();  // read once, thread-safe initialisation
  return fault;
}
}  // namespace

bool fault_at(FaultOp op, uint64_t offset, uint64_t length) {
  const Fault& fault = chosen();
  return fault.armed && fault.op == op && offset <= fault.offset && fault.offset < offset + length;
}

void corrupt_if_chosen(int fd, uint64_t offset, const std::vector<iovec>& pieces) {
  uint64_t at = offset;
  for (const iovec& v : pieces) {
    if (fault_at(FaultOp::Corrupt, at, v.iov_len)) {
      const unsigned char byte = static_cast<unsigned char>(~static_cast<unsigned char*>(v.iov_base)[chosen().offset - at]);
      (void)!pwrite(fd, &byte, 1, static_cast<off_t>(chosen().offset));
      return;
    }
    at += v.iov_len;
  }
}

}  // namespace blockcopy

#endif
