// A private temporary directory for tests that need files, removed with its content.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace camproxy::auth::test {

class TempDir {
 public:
  TempDir();  // mkdtemp under $TMPDIR or /tmp; fails the test if it cannot
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();  // rm -r

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

  // Writes `content` to a new file (replacing the old name atomically) with `mode`;
  // returns its path.
  std::string write(std::string_view name, std::string_view content, mode_t mode = 0600) const;

 private:
  std::string path_;
};

}  // namespace camproxy::auth::test
