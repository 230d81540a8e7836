#include "proxy/memory_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "proxy/ops/log.h"

namespace camproxy::proxy {
namespace {
constexpr uint64_t kCheckEveryMs = 2000;
}  // namespace

void MemoryTrimmer::start(uv_loop_t* loop) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  uv_timer_start(&timer_, on_tick, kCheckEveryMs, kCheckEveryMs);
  started_ = true;
}

void MemoryTrimmer::close() {
  if (!started_) return;
  started_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void MemoryTrimmer::on_tick(uv_timer_t* t) {
  auto* self = static_cast<MemoryTrimmer*>(t->data);
  const int64_t open = self->open_.load(std::memory_order_relaxed);
  const int64_t peak = self->peak_.load(std::memory_order_relaxed);
  if (!should_trim(peak, open)) return;
  self->peak_.store(open, std::memory_order_relaxed);  // a session opened meanwhile only lowers the next peak
#if defined(__GLIBC__)
  const bool released = malloc_trim(0) == 1;
#else
  const bool released = false;
#endif
  log_debug("memory_trimmed", {{"sessions_peak", peak}, {"sessions_open", open}, {"released", released}});
}

}  // namespace camproxy::proxy
