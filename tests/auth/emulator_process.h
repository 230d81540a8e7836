// A Python emulator from tests/tools run as a child of the test: started with
// --port-file, ready once the file names its port (bounded wait), stopped (SIGTERM, then
// SIGKILL) when the object dies, and killed by the kernel if the test process dies.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace camproxy::auth::test {

class EmulatorProcess {
 public:
  // `script`: a file name in tests/tools; `work_dir`: where the port file and the log go.
  EmulatorProcess(const std::string& script, const std::vector<std::string>& args, const std::string& work_dir);
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;
  ~EmulatorProcess();

  bool ready() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const;  // what the emulator wrote so far

 private:
  // Fails the test (leaving ready() false) when the emulator does not come up.
  void start(const std::string& script, const std::vector<std::string>& args, const std::string& work_dir);

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

}  // namespace camproxy::auth::test
