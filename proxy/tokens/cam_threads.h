#pragma once
// The threads a TokenService makes its CAM calls on (blocking HTTPS through libcurl). They are
// its own, not libuv's thread pool: that pool (4 threads by default) also resolves host names
// for the workers (uv_getaddrinfo), and slow CAM answers there starved upstream dials (issue
// 17). A small fixed number: the process-wide rate limit (cam_call_budget.h) keeps the queue
// short, and a call that hangs holds one thread for --cam-timeout at most.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace camproxy::proxy {

class CamThreads {
 public:
  explicit CamThreads(size_t count);
  CamThreads(const CamThreads&) = delete;
  CamThreads& operator=(const CamThreads&) = delete;
  // Jobs still queued are dropped; running ones finish first (joined).
  ~CamThreads();

  // Any thread. `urgent` jobs (a configured account's fetch) go before the queued ones.
  void post(std::function<void()> job, bool urgent);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace camproxy::proxy
