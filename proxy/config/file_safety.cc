#include "proxy/config/file_safety.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "proxy/ops/log.h"

namespace camproxy::proxy {
namespace {

struct TrustedFile {
  std::string what;  // "users file", "config file"
  const std::string* path;
  bool secret;
};

std::vector<TrustedFile> trusted_files(const Config& c) {
  std::vector<TrustedFile> files = {{"config file", &c.config_file, false},
                                    {"credentials file", &c.credentials_file, true},
                                    {"CAM CA file", &c.cam_ca_file, false}};
  for (const auto& t : c.targets) {
    const std::string of = c.targets.size() > 1 ? " of target " + t.name : "";
    files.push_back({"users file" + of, &t.local_auth.users_file, true});
    files.push_back({"fallback password file" + of, &t.fallback_password_file, true});
    files.push_back({"client TLS key" + of, &t.client_tls_key, true});
    files.push_back({"client TLS certificate" + of, &t.client_tls_cert, false});
    files.push_back({"upstream CA file" + of, &t.upstream_ca_file, false});
  }
  return files;
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

FileCheck check_trusted_files(const Config& config) {
  FileCheck out;
  const uid_t me = ::geteuid();
  for (const auto& f : trusted_files(config)) {
    const std::string& path = *f.path;
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) continue;  // symlinks followed: the file that is read
    const std::string named =
        f.what + " " + path + " (mode " + octal(st.st_mode) + ", owner uid " + std::to_string(st.st_uid) + ")";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      out.refusals.push_back(named + " may be written by its group or others: chmod go-w it");
    } else if (st.st_uid != me && st.st_uid != 0) {
      out.refusals.push_back(named + " belongs to neither camproxy's user (uid " + std::to_string(me) +
                             ") nor root: chown it");
    } else if (f.secret && (st.st_mode & S_IROTH) != 0) {
      out.warnings.push_back(named +
                             " may be read by any local user: chmod o-r it (Kubernetes: defaultMode 0400 "
                             "or 0440)");
    }
  }
  return out;
}

void log_trusted_file_warnings(const Config& config) {
  for (const auto& w : check_trusted_files(config).warnings) log_warn("file_readable_by_others", {{"file", w}});
}

}  // namespace camproxy::proxy
