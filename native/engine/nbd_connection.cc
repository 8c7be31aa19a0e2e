#include "nbd_connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "cancel.h"
#include "descriptor_io.h"
#include "nbd_protocol.h"

namespace blockcopy {

using nbd::get16;
using nbd::get32;
using nbd::get64;
using nbd::put16;
using nbd::put32;
using nbd::put64;

namespace {

// Option replies carry names and short infos; anything longer, or a list
// that never ends, is a server trying to keep us, and is refused.
constexpr uint32_t kMaxOptionReply = 64 * 1024;
constexpr int kMaxRepliesPerOption = 1024;
// A blocking send or recv gives up after this long without progress, so the
// deadline and cancel are looked at this often; while bytes flow, a recv of a
// whole payload is still one system call.
constexpr std::chrono::milliseconds kWaitSlice{100};
// Cancelled: requests in flight get this long to land before the connection
// is dropped, so a healthy server's answers still count towards the resume
// point, and a stalled one holds the job no longer than this and a slice.
constexpr std::chrono::milliseconds kCancelGrace{250};
constexpr size_t kMostPeerText = 256;

void set_wait_slice(int fd) {
  timeval tv{0, static_cast<suseconds_t>(std::chrono::microseconds(kWaitSlice).count())};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());  // a leading '\0' names an abstract socket
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] ? 1 : 0));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  while (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

}  // namespace

std::string peer_text(const std::string& said) {
  std::string text = said.substr(0, kMostPeerText);
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (said.size() > kMostPeerText) text += "... (" + std::to_string(said.size()) + " bytes in all)";
  return text;
}

Status NbdConnection::broken(const std::string& what) const {
  return Status::Sys(EPROTO, "recv", side_, "the NBD server broke the protocol: " + what);
}

Status NbdConnection::still_waiting(NbdClock::time_point deadline, const char* syscall) {
  const auto now = NbdClock::now();
  if (CancelScope::requested()) {
    if (!cancel_seen_) cancel_seen_ = now;
    if (now - *cancel_seen_ >= kCancelGrace) return Status::Sys(ECANCELED, syscall, side_, "cancelled");
  }
  if (now >= deadline)
    return Status::Sys(ETIMEDOUT, syscall, side_,
                       "no answer from the NBD server in " + std::to_string(timeout_.limit.count()) + " ms");
  return Status::Ok();
}

Status NbdConnection::connect(const NbdAddress& address, Side side, NbdTimeout timeout) {
  side_ = side;
  timeout_ = timeout;
  const auto deadline = timeout_.after(NbdClock::now());
  if (address.socket.empty()) {
    Status s = connect_tcp(address.host, address.port, deadline);
    if (!s.ok()) return s;
  } else {
    const int fd = connect_unix(address.socket);
    if (fd < 0) return Status::Sys(errno, "connect", side);
    fd_ = Fd(fd, true);
  }
  set_wait_slice(fd_.get());
  handshake_deadline_ = timeout_.after(NbdClock::now());
  return Status::Ok();
}

// A TCP connect that a firewall swallows would block for minutes: it is
// started without blocking and waited for a slice at a time.
Status NbdConnection::connect_tcp(const std::string& host, uint16_t port, NbdClock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0)
    return Status::Sys(rc == EAI_SYSTEM ? errno : ENOENT, "connect", side_,
                       "cannot resolve " + host + ": " + gai_strerror(rc));
  Status result = Status::Sys(ECONNREFUSED, "connect", side_);
  for (addrinfo* a = found; a; a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol), true);
    if (!fd.valid()) {
      result = Status::Sys(errno, "connect", side_);
      continue;
    }
    result = finish_connect(fd.get(), a->ai_addr, a->ai_addrlen, deadline);
    if (result.ok()) {
      fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);  // waits are bounded by the slice instead
      int one = 1;
      setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // request headers go out at once
      fd_ = std::move(fd);
      break;
    }
    if (result.err == ECANCELED || result.err == ETIMEDOUT) break;
  }
  freeaddrinfo(found);
  return result;
}

Status NbdConnection::finish_connect(int fd, const sockaddr* addr, socklen_t length, NbdClock::time_point deadline) {
  if (::connect(fd, addr, length) == 0) return Status::Ok();
  if (errno != EINPROGRESS && errno != EINTR) return Status::Sys(errno, "connect", side_);
  for (;;) {
    pollfd p{fd, POLLOUT, 0};
    const int n = poll(&p, 1, static_cast<int>(kWaitSlice.count()));
    if (n < 0 && errno != EINTR) return Status::Sys(errno, "poll", side_);
    if (n > 0) {
      int err = 0;
      socklen_t size = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &size);
      return err ? Status::Sys(err, "connect", side_) : Status::Ok();
    }
    Status s = still_waiting(deadline, "connect");
    if (!s.ok()) return s;
  }
}

Status NbdConnection::send_all(iovec* iov, int count, NbdClock::time_point deadline) {
  msghdr msg{};
  while (count > 0) {
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR && errno != EAGAIN) return Status::Sys(errno, "send", side_);
    if (n > 0) consume_iov(&iov, &count, static_cast<size_t>(n));
    if (count == 0) break;
    Status s = still_waiting(deadline, "send");
    if (s.err == ETIMEDOUT)
      s.detail = "the NBD server stopped reading requests for " + std::to_string(timeout_.limit.count()) + " ms";
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status NbdConnection::send_request(uint16_t flags, uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length,
                                   NbdClock::time_point deadline, const iovec* payload, int pieces) {
  std::string header;
  put32(&header, nbd::kRequestMagic);
  put16(&header, flags);
  put16(&header, type);
  put64(&header, cookie);
  put64(&header, offset);
  put32(&header, length);
  std::vector<iovec> iov;
  iov.reserve(1 + static_cast<size_t>(pieces));
  iov.push_back({header.data(), header.size()});
  for (int i = 0; i < pieces; i++) iov.push_back(payload[i]);
  return send_all(iov.data(), static_cast<int>(iov.size()), deadline);
}

Status NbdConnection::receive(void* buf, size_t length, NbdClock::time_point deadline) {
  auto* p = static_cast<char*>(buf);
  while (length > 0) {
    const ssize_t n = recv(fd_.get(), p, length, MSG_WAITALL);
    if (n == 0) return Status::Sys(ECONNRESET, "recv", side_, "the NBD server closed the connection");
    if (n < 0 && errno != EINTR && errno != EAGAIN) return Status::Sys(errno, "recv", side_);
    if (n > 0) {
      p += n;
      length -= static_cast<size_t>(n);
    }
    if (length == 0) break;
    Status s = still_waiting(deadline, "recv");
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status NbdConnection::skip(size_t length, NbdClock::time_point deadline) {
  char scratch[4096];
  while (length > 0) {
    const size_t n = std::min(length, sizeof scratch);
    Status s = receive(scratch, n, deadline);
    if (!s.ok()) return s;
    length -= n;
  }
  return Status::Ok();
}

// ---- the handshake -------------------------------------------------------------

Status NbdConnection::send_option(uint32_t option, const std::string& data) {
  std::string msg;
  put64(&msg, nbd::kOptMagic);
  put32(&msg, option);
  put32(&msg, static_cast<uint32_t>(data.size()));
  msg += data;
  iovec iov{msg.data(), msg.size()};
  return send_all(&iov, 1, handshake_deadline_);
}

Status NbdConnection::receive_option_reply(uint32_t option, uint32_t* type, std::string* payload) {
  char header[20];
  Status s = receive(header, sizeof header, handshake_deadline_);
  if (!s.ok()) return s;
  if (get64(header) != nbd::kReplyMagic) return broken("bad option reply magic");
  if (get32(header + 8) != option) return broken("a reply to an option not asked");
  *type = get32(header + 12);
  const uint32_t length = get32(header + 16);
  if (length > kMaxOptionReply) return broken("an option reply of " + std::to_string(length) + " bytes");
  payload->assign(length, '\0');
  return receive(payload->data(), length, handshake_deadline_);
}

Status NbdConnection::option_refused(uint32_t type, const std::string& message, const std::string& export_name) const {
  const std::string said = message.empty() ? "" : " (the server said: " + peer_text(message) + ")";
  switch (type) {
    case nbd::kRepErrUnknown:
      return Status::Sys(ENOENT, "connect", side_, "the NBD server has no export named '" + export_name + "'" + said);
    case nbd::kRepErrTlsReqd:
      return Status::Sys(ENOTSUP, "connect", side_,
                         "the NBD server requires TLS, which blockcopy does not speak yet" + said);
    case nbd::kRepErrPolicy:
      return Status::Sys(EPERM, "connect", side_, "the NBD server refused the export" + said);
    default:
      return Status::Sys(EPROTO, "connect", side_,
                         "the NBD server refused the negotiation (reply " + std::to_string(type & ~nbd::kRepErrorBit) +
                             ")" + said);
  }
}

Status NbdConnection::handshake(const std::string& export_name, NbdExportInfo* info) {
  char greeting[18];
  Status s = receive(greeting, sizeof greeting, handshake_deadline_);
  if (!s.ok()) return s;
  if (get64(greeting) != nbd::kMagic) return broken("not an NBD server");
  if (get64(greeting + 8) != nbd::kOptMagic) return broken("an oldstyle NBD server, which blockcopy does not speak");
  const uint16_t server = get16(greeting + 16);
  if (!(server & nbd::kFlagFixedNewstyle)) return broken("a server without fixed newstyle negotiation");
  std::string client;
  put32(&client, nbd::kFlagFixedNewstyle | (server & nbd::kFlagNoZeroes));
  iovec iov{client.data(), client.size()};
  s = send_all(&iov, 1, handshake_deadline_);
  if (s.ok()) s = negotiate_structured(info);
  if (s.ok() && info->structured) s = negotiate_allocation(export_name, info);
  if (s.ok()) s = go(export_name, info);
  return s;
}

Status NbdConnection::negotiate_structured(NbdExportInfo* info) {
  Status s = send_option(nbd::kOptStructuredReply, "");
  uint32_t type = 0;
  std::string payload;
  if (s.ok()) s = receive_option_reply(nbd::kOptStructuredReply, &type, &payload);
  if (!s.ok()) return s;
  info->structured = type == nbd::kRepAck;
  return Status::Ok();
}

Status NbdConnection::negotiate_allocation(const std::string& export_name, NbdExportInfo* info) {
  std::string data;
  put32(&data, static_cast<uint32_t>(export_name.size()));
  data += export_name;
  put32(&data, 1);
  put32(&data, static_cast<uint32_t>(std::strlen(nbd::kBaseAllocation)));
  data += nbd::kBaseAllocation;
  Status s = send_option(nbd::kOptSetMetaContext, data);
  for (int replies = 0;; replies++) {
    if (replies == kMaxRepliesPerOption) return broken("a meta context list without end");
    uint32_t type = 0;
    std::string payload;
    if (s.ok()) s = receive_option_reply(nbd::kOptSetMetaContext, &type, &payload);
    if (!s.ok()) return s;
    if (type == nbd::kRepMetaContext && payload.size() >= 4) {
      if (payload.substr(4) == nbd::kBaseAllocation) {
        info->has_allocation = true;
        info->allocation_id = get32(payload.data());
      }
      continue;
    }
    // ACK ends the list; an error means no block status, and every range is data.
    return Status::Ok();
  }
}

Status NbdConnection::go(const std::string& export_name, NbdExportInfo* info) {
  std::string data;
  put32(&data, static_cast<uint32_t>(export_name.size()));
  data += export_name;
  put16(&data, 1);
  put16(&data, nbd::kInfoBlockSize);
  Status s = send_option(nbd::kOptGo, data);
  bool have_export = false;
  for (int replies = 0;; replies++) {
    if (replies == kMaxRepliesPerOption) return broken("OPT_GO replies without end");
    uint32_t type = 0;
    std::string payload;
    if (s.ok()) s = receive_option_reply(nbd::kOptGo, &type, &payload);
    if (!s.ok()) return s;
    if (type & nbd::kRepErrorBit) return option_refused(type, payload, export_name);
    if (type == nbd::kRepAck) break;
    if (type != nbd::kRepInfo || payload.size() < 2) continue;
    const uint16_t what = get16(payload.data());
    if (what == nbd::kInfoExport && payload.size() >= 12) {
      info->size = get64(payload.data() + 2);
      info->flags = get16(payload.data() + 10);
      have_export = true;
    } else if (what == nbd::kInfoBlockSize && payload.size() >= 14) {
      info->min_block = get32(payload.data() + 2);
      info->preferred_block = get32(payload.data() + 6);
      info->max_block = get32(payload.data() + 10);
    }
  }
  if (!have_export) return broken("OPT_GO ended without the export's size");
  if (info->min_block == 0 || info->min_block > 65536 || (info->min_block & (info->min_block - 1)))
    return broken("a minimum block size of " + std::to_string(info->min_block));
  if (info->max_block == 0) info->max_block = nbd::kDefaultMaxPayload;
  info->max_block = std::min(info->max_block, nbd::kDefaultMaxPayload);
  return Status::Ok();
}

}  // namespace blockcopy
