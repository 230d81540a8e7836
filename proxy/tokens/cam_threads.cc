#include "proxy/tokens/cam_threads.h"

namespace camproxy::proxy {

CamThreads::CamThreads(size_t count) {
  threads_.reserve(count);
  for (size_t i = 0; i < count; ++i) threads_.emplace_back([this] { run(); });
}

CamThreads::~CamThreads() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void CamThreads::post(std::function<void()> job, bool urgent) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (urgent) {
      queue_.push_front(std::move(job));
    } else {
      queue_.push_back(std::move(job));
    }
  }
  cv_.notify_one();
}

void CamThreads::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace camproxy::proxy
