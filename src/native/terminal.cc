// Terminals without fork: open a pseudo-terminal pair here; the child makes the slave side its
// controlling terminal after setsid (TIOCSCTTY in spawn.cc).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "native.h"

namespace execvisor {

namespace {

// The line discipline node-pty sets up (src/unix/pty.cc), so programs behave the same under both.
void DefaultTermios(struct termios* term) {
  *term = {};
  term->c_iflag = ICRNL | IXON | IXANY | IMAXBEL | BRKINT | IUTF8;
  term->c_oflag = OPOST | ONLCR;
  term->c_cflag = CREAD | CS8 | HUPCL;
  term->c_lflag = ICANON | ISIG | IEXTEN | ECHO | ECHOE | ECHOK | ECHOKE | ECHOCTL;
  term->c_cc[VEOF] = 4;
  term->c_cc[VEOL] = static_cast<cc_t>(-1);
  term->c_cc[VEOL2] = static_cast<cc_t>(-1);
  term->c_cc[VERASE] = 0x7f;
  term->c_cc[VWERASE] = 23;
  term->c_cc[VKILL] = 21;
  term->c_cc[VREPRINT] = 18;
  term->c_cc[VINTR] = 3;
  term->c_cc[VQUIT] = 0x1c;
  term->c_cc[VSUSP] = 26;
  term->c_cc[VSTART] = 17;
  term->c_cc[VSTOP] = 19;
  term->c_cc[VLNEXT] = 22;
  term->c_cc[VDISCARD] = 15;
  term->c_cc[VMIN] = 1;
  term->c_cc[VTIME] = 0;
  cfsetispeed(term, B38400);
  cfsetospeed(term, B38400);
}

bool GetSize(napi_env env, napi_value value, unsigned short* out) {
  napi_valuetype type;
  int32_t number = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, value, &number) != napi_ok || number < 1 || number > 0xffff) {
    return false;
  }
  *out = static_cast<unsigned short>(number);
  return true;
}

}  // namespace

// openTerminal(cols, rows) -> [master, slave, ownSlave], all close-on-exec. `slave` is blocking (for
// the child's stdio); `ownSlave` is a second open of the same terminal for the caller, non-blocking
// (it writes the drain sentinel there, and must never block on a full terminal), and the master is
// non-blocking.
Napi::Value OpenTerminal(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  struct winsize size = {};
  if (info.Length() != 2 || !GetSize(env, info[0], &size.ws_col) || !GetSize(env, info[1], &size.ws_row)) {
    ThrowUsage(env, "openTerminal(cols, rows): sizes from 1 to 65535");
    return Napi::Value();
  }
  Fd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (master.get() < 0) {
    ThrowSystemError(env, "posix_openpt", errno);
    return Napi::Value();
  }
  if (grantpt(master.get()) != 0) {
    ThrowSystemError(env, "grantpt", errno);
    return Napi::Value();
  }
  if (unlockpt(master.get()) != 0) {
    ThrowSystemError(env, "unlockpt", errno);
    return Napi::Value();
  }
  // The slave of exactly this master, without a path lookup (Linux 4.13).
  Fd slave(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (slave.get() < 0) {
    ThrowSystemError(env, "ioctl(TIOCGPTPEER)", errno);
    return Napi::Value();
  }
  Fd own_slave(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (own_slave.get() < 0) {
    ThrowSystemError(env, "ioctl(TIOCGPTPEER)", errno);
    return Napi::Value();
  }
  struct termios term;
  DefaultTermios(&term);
  if (tcsetattr(slave.get(), TCSANOW, &term) != 0) {
    ThrowSystemError(env, "tcsetattr", errno);
    return Napi::Value();
  }
  if (ioctl(master.get(), TIOCSWINSZ, &size) != 0) {
    ThrowSystemError(env, "ioctl(TIOCSWINSZ)", errno);
    return Napi::Value();
  }
  int flags = fcntl(master.get(), F_GETFL);
  if (flags < 0 || fcntl(master.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    ThrowSystemError(env, "fcntl(O_NONBLOCK)", errno);
    return Napi::Value();
  }
  napi_value result, js_master, js_slave, js_own;
  if (napi_create_array_with_length(env, 3, &result) != napi_ok ||
      napi_create_int32(env, master.get(), &js_master) != napi_ok ||
      napi_create_int32(env, slave.get(), &js_slave) != napi_ok ||
      napi_create_int32(env, own_slave.get(), &js_own) != napi_ok ||
      napi_set_element(env, result, 0, js_master) != napi_ok ||
      napi_set_element(env, result, 1, js_slave) != napi_ok ||
      napi_set_element(env, result, 2, js_own) != napi_ok) {
    return Napi::Value();
  }
  master.release();
  slave.release();
  own_slave.release();
  return Napi::Value(env, result);
}

// resizeTerminal(master, cols, rows)
Napi::Value ResizeTerminal(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  struct winsize size = {};
  int32_t fd = -1;
  napi_valuetype type;
  if (info.Length() != 3 || napi_typeof(env, info[0], &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, info[0], &fd) != napi_ok || fd < 0 || !GetSize(env, info[1], &size.ws_col) ||
      !GetSize(env, info[2], &size.ws_row)) {
    ThrowUsage(env, "resizeTerminal(master, cols, rows): sizes from 1 to 65535");
    return Napi::Value();
  }
  if (ioctl(fd, TIOCSWINSZ, &size) != 0) {
    ThrowSystemError(env, "ioctl(TIOCSWINSZ)", errno);
    return Napi::Value();
  }
  return info.Env().Undefined();
}

}  // namespace execvisor
