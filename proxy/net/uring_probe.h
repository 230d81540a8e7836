#pragma once
// Can this process use the io_uring data path? Asked once at start (--data-path auto|io_uring).
// io_uring may be missing (an old kernel, kernel.io_uring_disabled) or refused (a container
// runtime's seccomp profile gives EPERM or ENOSYS); multishot receive and provided-buffer rings
// need Linux 6.0. The probe tries each on a private ring and a socketpair, so a kernel that
// has the opcode but not the flag is caught too.
#include <optional>
#include <string>

namespace camproxy::proxy {

// std::nullopt when usable, else why not (for the start-up log line or error).
std::optional<std::string> uring_unavailable_reason();

}  // namespace camproxy::proxy
