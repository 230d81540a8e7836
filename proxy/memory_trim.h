#pragma once
// Gives freed memory back to the kernel once a burst of client sessions has ended, so that RSS
// returns near where it was after a spike (a thousand half-open clients, a reconnect storm).
// glibc keeps what a worker thread frees in that thread's arena and returns only the
// top of a heap by itself; malloc_trim(0) releases the free pages of every arena. It runs on the
// control loop and only after the open-session count fell well below its peak since the last
// trim, so steady traffic (even a connection per request) never pays for it.
#include <uv.h>

#include <atomic>
#include <cstdint>

namespace camproxy::proxy {

// A trim is worth it once this many sessions' worth of memory has been freed (a session with
// TLS holds some 30-140 KiB: a few MiB), and the burst is mostly over.
constexpr int64_t kTrimAfterSessionsGone = 64;

// The decision, separate for tests: `peak` open sessions since the last trim, `open` now.
constexpr bool should_trim(int64_t peak, int64_t open) {
  return peak - open >= kTrimAfterSessionsGone && open <= peak / 2;
}

class MemoryTrimmer {
 public:
  // `open` and `peak` are the process's open client sessions and their peak since the last
  // trim (ProxyContext); the trimmer lowers `peak` to `open` when it trims.
  MemoryTrimmer(const std::atomic<int64_t>& open, std::atomic<int64_t>& peak) : open_(open), peak_(peak) {}
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  void start(uv_loop_t* loop);
  // Closes the timer; the owner outlives the loop's close callbacks (as App does).
  void close();

 private:
  static void on_tick(uv_timer_t* t);

  const std::atomic<int64_t>& open_;
  std::atomic<int64_t>& peak_;
  uv_timer_t timer_{};
  bool started_ = false;
};

}  // namespace camproxy::proxy
