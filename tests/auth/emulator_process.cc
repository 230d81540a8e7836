#include "emulator_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace camproxy::auth::test {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(5);
constexpr auto kPoll = std::chrono::milliseconds(20);
constexpr const char* kPython = "/usr/bin/python3";

std::uint16_t read_port(const std::string& path) {
  std::ifstream in(path);
  unsigned port = 0;
  return (in >> port) && port > 0 && port < 65536 ? static_cast<std::uint16_t>(port) : 0;
}

// True once `pid` has exited (and is reaped), waiting at most `timeout`.
bool reaped_within(pid_t pid, std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace

EmulatorProcess::EmulatorProcess(const std::string& script, const std::vector<std::string>& args,
                                 const std::string& work_dir) {
  start(script, args, work_dir);
}

void EmulatorProcess::start(const std::string& script, const std::vector<std::string>& args,
                            const std::string& work_dir) {
  const std::string port_file = work_dir + "/" + script + ".port";
  log_path_ = work_dir + "/" + script + ".log";
  std::vector<std::string> argv_strings = {kPython, std::string(CAMPROXY_TEST_DATA_DIR) + "/../tools/" + script,
                                           "--port-file", port_file};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(log_fd, 0) << log_path_;

  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {  // child: async-signal-safe calls only
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(kPython, argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ASSERT_GT(pid_, 0) << "fork failed";

  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while ((port_ = read_port(port_file)) == 0) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << script << " exited during start-up:\n" << log();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      FAIL() << script << " wrote no port within 30 s:\n" << log();
    }
    std::this_thread::sleep_for(kPoll);
  }
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!reaped_within(pid_, kStopTimeout)) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string EmulatorProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace camproxy::auth::test
