#pragma once
// The files camproxy trusts (docs/security.md "Files"): secrets (the fallback password, the users
// file, the credentials profile, the client TLS key) and files that say whom to trust or how to
// run (the --config file, the client TLS certificate, the CA bundles). Anyone who may write one
// could make camproxy hand the token to another server or let anyone in, so a file that its
// group or others may write, or that belongs to someone other than camproxy's effective user
// or root, is refused: at start (exit 2) and on a reload (the running configuration is kept).
// A secret that others may read gets a warning. A file that does not exist is left to its
// reader, which says so.
#include <string>
#include <vector>

#include "proxy/config/config.h"

namespace camproxy::proxy {

struct FileCheck {
  std::vector<std::string> refusals;  // one sentence per unsafe file, naming it and its mode
  std::vector<std::string> warnings;  // secrets that others may read
};

FileCheck check_trusted_files(const Config& config);

// Logs each warning of check_trusted_files (event file_readable_by_others); at start and reload.
void log_trusted_file_warnings(const Config& config);

}  // namespace camproxy::proxy
