// Reading the small local files that hold secrets (credentials profile, OIDC token,
// fallback password): regular files only, bounded size, bytes wiped when dropped, and
// the file's identity so that a change on disk is noticed with one stat().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tl/expected.hpp>

#include "auth/secret.h"

namespace camproxy::auth {

// What stat() says about the file a path leads to (symlinks followed). Kubernetes
// updates a mounted Secret by swapping a symlink, which changes dev/inode; an edit in
// place changes mtime and usually size.
struct FileIdentity {
  std::uint64_t device = 0, inode = 0;
  std::int64_t size = 0, mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

enum class FileProblem {
  missing,         // ENOENT (also a dangling symlink)
  unreadable,      // open() or read() failed otherwise (permissions, I/O)
  not_regular,     // directory, FIFO, socket, device
  world_readable,  // mode & 0004, refused when SmallFileRules::private_only
  too_large,       // more than max_bytes
};

struct SmallFileRules {
  std::size_t max_bytes = 64 * 1024;
  bool private_only = false;  // refuse a file that others may read
};

struct SmallFile {
  SecretString bytes;
  FileIdentity identity;  // of the file actually read (fstat of the open descriptor)
};

// Never blocks on a FIFO (opened O_NONBLOCK, then refused as not regular). A file that
// grows past max_bytes while being read is still too_large.
tl::expected<SmallFile, FileProblem> read_small_file(const std::string& path, const SmallFileRules& rules);

// stat() of `path`; nullopt when it cannot be stat'ed (missing, permissions).
std::optional<FileIdentity> file_identity(const std::string& path);

}  // namespace camproxy::auth
