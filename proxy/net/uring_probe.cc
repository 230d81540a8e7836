#include "proxy/net/uring_probe.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace camproxy::proxy {
namespace {

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

// Owns what the probe opened, whatever step it stops at.
struct ProbeRing {
  io_uring ring{};
  bool ready = false;
  io_uring_buf_ring* buf_ring = nullptr;
  std::array<int, 2> fds{-1, -1};
  ~ProbeRing() {
    if (ready) io_uring_queue_exit(&ring);
    if (buf_ring != nullptr) ::munmap(buf_ring, sizeof(io_uring_buf));
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::optional<std::string> uring_unavailable_reason() {
  ProbeRing p;
  if (int rc = io_uring_queue_init(4, &p.ring, 0); rc < 0) return errno_text("io_uring_setup", -rc);
  p.ready = true;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&p.ring)) {
    const bool ops = io_uring_opcode_supported(probe, IORING_OP_RECV) != 0 &&
                     io_uring_opcode_supported(probe, IORING_OP_SEND) != 0 &&
                     io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) != 0;
    io_uring_free_probe(probe);
    if (!ops) return std::string("the kernel's io_uring lacks recv, send or cancel");
  } else {
    return std::string("the kernel's io_uring cannot be probed (older than Linux 5.6)");
  }
  void* mem = ::mmap(nullptr, sizeof(io_uring_buf), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return errno_text("mmap", errno);
  p.buf_ring = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(p.buf_ring);
  reg.ring_entries = 1;
  reg.bgid = 1;
  if (int rc = io_uring_register_buf_ring(&p.ring, &reg, 0); rc < 0)
    return errno_text("io_uring_register_buf_ring (Linux 5.19+)", -rc);
  std::array<uint8_t, 16> buffer{};
  io_uring_buf_ring_init(p.buf_ring);
  io_uring_buf_ring_add(p.buf_ring, buffer.data(), buffer.size(), 0, io_uring_buf_ring_mask(1), 0);
  io_uring_buf_ring_advance(p.buf_ring, 1);

  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p.fds.data()) != 0) return errno_text("socketpair", errno);
  if (::write(p.fds[1], "x", 1) != 1) return errno_text("write", errno);
  io_uring_sqe* sqe = io_uring_get_sqe(&p.ring);
  io_uring_prep_recv_multishot(sqe, p.fds[0], nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 1;
  if (int rc = io_uring_submit(&p.ring); rc < 0) return errno_text("io_uring_enter", -rc);
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec timeout{.tv_sec = 1, .tv_nsec = 0};
  if (int rc = io_uring_wait_cqe_timeout(&p.ring, &cqe, &timeout); rc < 0) return errno_text("io_uring wait", -rc);
  const int res = cqe->res;
  const uint32_t flags = cqe->flags;
  io_uring_cqe_seen(&p.ring, cqe);
  if (res < 0) return errno_text("multishot recv (Linux 6.0+)", -res);
  if (res != 1 || (flags & IORING_CQE_F_BUFFER) == 0 || (flags & IORING_CQE_F_MORE) == 0)
    return std::string("multishot recv with provided buffers is not supported (Linux 6.0+)");
  return std::nullopt;  // the receive still armed goes with the ring
}

}  // namespace camproxy::proxy
