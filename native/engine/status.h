// Errors travel through the engine as values; the binding turns them into JS errors.
#pragma once

#include <string>

namespace blockcopy {

enum class ErrorKind {
  None,
  System,      // a failed system call: errno + syscall + which file
  InvalidArg,  // becomes ERR_INVALID_ARG_VALUE
  OutOfRange,  // becomes ERR_OUT_OF_RANGE
};

// Which of the two files a system error belongs to, so the JS error can name its path.
enum class Side { None, Source, Destination };

struct Status {
  ErrorKind kind = ErrorKind::None;
  int err = 0;
  const char* syscall = "";
  Side side = Side::None;
  std::string detail;  // when set, replaces strerror's text in the message

  bool ok() const { return kind == ErrorKind::None; }

  static Status Ok() { return {}; }
  static Status Sys(int err, const char* syscall, Side side, std::string detail = {}) {
    Status s;
    s.kind = ErrorKind::System;
    s.err = err;
    s.syscall = syscall;
    s.side = side;
    s.detail = std::move(detail);
    return s;
  }
  static Status Invalid(std::string message) { return Argument(ErrorKind::InvalidArg, std::move(message)); }
  static Status OutOfRange(std::string message) { return Argument(ErrorKind::OutOfRange, std::move(message)); }

 private:
  static Status Argument(ErrorKind kind, std::string message) {
    Status s;
    s.kind = kind;
    s.detail = std::move(message);
    return s;
  }
};

}  // namespace blockcopy
