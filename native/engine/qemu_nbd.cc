#include "qemu_nbd.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "nbd_connection.h"

extern char** environ;

namespace blockcopy {

namespace {

constexpr std::chrono::milliseconds kStopGrace{3000};

std::string find_program(const char* name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
    const std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

Status missing(const char* name, Side side) {
  return Status::Sys(ENOENT, "spawn", side,
                     std::string(name) + " was not found in PATH; image formats need it (package qemu-utils on "
                                         "Debian and Ubuntu, qemu-img on Fedora and RHEL)");
}

// qemu reads "proto:rest" and "json:{...}" in a file name as something other
// than a file; a name that starts with '/' or "./" is always a file.
std::string plain_file_name(const std::string& path) { return path[0] == '/' ? path : "./" + path; }

// fork + exec, stdout to /dev/null, stderr into a pipe the caller reads.
// `listen_fd` >= 0 becomes fd 3 with LISTEN_FDS=1 and LISTEN_PID (socket
// activation). The child only makes async-signal-safe calls before exec: the
// parent has other threads.
Status spawn(const std::string& program, const std::vector<std::string>& args, int listen_fd, Side side, pid_t* pid,
             Fd* stderr_out) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::Sys(errno, "pipe", side);
  Fd read_end(pipefd[0], true), write_end(pipefd[1], true);
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return Status::Sys(errno, "open", side);
  Fd devnull(null_fd, true);

  std::vector<std::string> arg_strings{program};
  arg_strings.insert(arg_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++)
    if (std::strncmp(*e, "LISTEN_", 7) != 0) env_strings.emplace_back(*e);
  char pid_entry[32] = "LISTEN_PID=";
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  std::string fds_entry = "LISTEN_FDS=1";
  if (listen_fd >= 0) {
    envp.push_back(fds_entry.data());
    envp.push_back(pid_entry);
  }
  envp.push_back(nullptr);

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // no handler of ours runs in the child
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent is already gone
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, nullptr);
    // Out of the way of 0-3 first, then into place (dup2 clears close-on-exec).
    const int l = listen_fd >= 0 ? fcntl(listen_fd, F_DUPFD_CLOEXEC, 10) : -1;
    const int e = fcntl(write_end.get(), F_DUPFD_CLOEXEC, 10);
    const int n = fcntl(devnull.get(), F_DUPFD_CLOEXEC, 10);
    dup2(n, 0);
    dup2(n, 1);
    dup2(e, 2);
    if (l >= 0) {
      dup2(l, 3);
      char digits[16];
      int len = 0;
      for (pid_t v = getpid(); v > 0; v /= 10) digits[len++] = static_cast<char>('0' + v % 10);
      for (int i = 0; i < len; i++) pid_entry[11 + i] = digits[len - 1 - i];
      pid_entry[11 + len] = '\0';
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (child < 0) return Status::Sys(fork_errno, "fork", side);
  *pid = child;
  *stderr_out = std::move(read_end);
  return Status::Ok();
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0 && out.size() < 16384) out.append(buf, static_cast<size_t>(n));
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    break;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Waits up to `limit` for the child to exit (max: as long as it takes); true with its status if it did.
bool reap(pid_t pid, std::chrono::milliseconds limit, int* status) {
  const auto until = limit == std::chrono::milliseconds::max() ? std::chrono::steady_clock::time_point::max()
                                                                : std::chrono::steady_clock::now() + limit;
  for (;;) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string private_socket_name() {
  static std::atomic<uint64_t> counter{0};
  return std::string(1, '\0') + "blockcopy-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

Status QemuNbd::start(const std::string& path, const std::string& format, bool read_only, bool compress,
                      uint32_t connections, Side side, NbdAddress* address) {
  side_ = side;
  const std::string program = find_program("qemu-nbd");
  if (program.empty()) return missing("qemu-nbd", side);
  const std::string name = private_socket_name();
  const int raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (raw < 0) return Status::Sys(errno, "socket", side);
  Fd listener(raw, true);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (bind(raw, reinterpret_cast<sockaddr*>(&addr), len) != 0) return Status::Sys(errno, "bind", side);
  if (listen(raw, 64) != 0) return Status::Sys(errno, "listen", side);

  std::vector<std::string> args{"--shared=" + std::to_string(std::max<uint32_t>(connections, 1))};
  if (read_only) args.push_back("--read-only");
  else args.push_back("--discard=unmap");  // WRITE_ZEROES may leave holes
  if (compress) {
    // Options, not a file name: a comma in the path is doubled, as qemu's option syntax escapes it.
    std::string file;
    for (char c : plain_file_name(path)) file += c == ',' ? std::string(",,") : std::string(1, c);
    args.push_back("--image-opts");
    args.push_back("driver=compress,file.driver=" + format + ",file.file.driver=file,file.file.filename=" + file);
  } else {
    args.push_back("--format=" + format);
    args.push_back(plain_file_name(path));
  }
  Status s = spawn(program, args, raw, side, &pid_, &stderr_);
  // Our copy of the listening socket goes now: if qemu-nbd exits, a connect
  // is refused instead of waiting for an accept that never comes.
  listener.reset();
  if (!s.ok()) return s;
  address->socket = name;
  address->export_name.clear();  // qemu-nbd's default export
  return Status::Ok();
}

std::string QemuNbd::complaint() {
  if (pid_ < 0) return {};
  int status = 0;
  if (!reap(pid_, std::chrono::milliseconds(2000), &status)) return {};
  pid_ = -1;
  return read_all(stderr_.get());
}

Status QemuNbd::wait_for_exit(const NbdTimeout& timeout) {
  if (pid_ < 0) return Status::Ok();
  int status = 0;
  const bool exited = reap(pid_, timeout.limit.count() > 0 ? timeout.limit : std::chrono::milliseconds::max(), &status);
  if (!exited) {
    stop();
    return Status::Sys(ETIMEDOUT, "waitpid", side_, "qemu-nbd did not exit after the copy; it was killed");
  }
  pid_ = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  const std::string said = read_all(stderr_.get());
  return Status::Sys(EIO, "waitpid", side_,
                     "qemu-nbd failed on closing the image" + (said.empty() ? std::string() : ": " + said));
}

void QemuNbd::stop() {
  if (pid_ < 0) return;
  kill(pid_, SIGTERM);  // qemu-nbd closes the image cleanly on SIGTERM
  int status = 0;
  if (!reap(pid_, kStopGrace, &status)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

Status create_image(const std::string& path, const std::string& format, uint64_t size, Side side) {
  const std::string program = find_program("qemu-img");
  if (program.empty()) return missing("qemu-img", side);
  pid_t pid = -1;
  Fd err;
  Status s = spawn(program, {"create", "-q", "-f", format, plain_file_name(path), std::to_string(size)}, -1, side,
                   &pid, &err);
  if (!s.ok()) return s;
  const std::string said = read_all(err.get());  // until qemu-img exits and the pipe closes
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Status::Sys(EIO, "spawn", side, "qemu-img create failed" + (said.empty() ? std::string() : ": " + said));
}

}  // namespace blockcopy
