#include "fault_injection.h"

#ifdef BLOCKCOPY_FAULT_INJECTION

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
  f.op = std::strncmp(spec, "writeback", 9) == 0 ? FaultOp::Writeback
         : std::strncmp(spec, "write", 5) == 0   ? FaultOp::Write
                                                 : FaultOp::Read;
  f.offset = std::strtoull(colon + 1, nullptr, 10);
  f.armed = true;
  return f;
}
}  // namespace

bool fault_at(FaultOp op, uint64_t offset, uint64_t length) {
  static const Fault fault = parse();  // read once, thread-safe initialisation
  return fault.armed && fault.op == op && offset <= fault.offset && fault.offset < offset + length;
}

}  // namespace blockcopy

#endif
