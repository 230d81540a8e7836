// Transport lifetime around I/O in flight, on both backends: closing while a receive or a send
// is in flight (io_uring: the SQE must finish before the descriptor closes), bytes written just
// before close(), and bytes plus EOF that arrive while reading is stopped.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "tests/proxy/transport_fixture.h"

namespace camproxy::proxy {
namespace {

using testing::Backend;
using testing::Endpoint;
using testing::pattern;

class TransportCloseTest : public testing::TransportTest {};

TEST_P(TransportCloseTest, ClosingWhileAReceiveIsInFlightClosesCleanly) {
  auto [a, b] = pipe_pair();
  a->t.start_reading();
  run_for(20);  // io_uring: the multishot receive is armed in the kernel now
  if (ring_) {
    EXPECT_GT(ring_->in_flight(), 0u);
  }
  a->close();
  ASSERT_TRUE(run_until([&] { return a->closed == 1; }));
  EXPECT_EQ(a->events_after_close, 0);
  if (ring_) {
    EXPECT_EQ(ring_->in_flight(), 0u) << "on_closed before the receive's last CQE";
  }
  b->t.start_reading();
  ASSERT_TRUE(run_until([&] { return !b->errors.empty(); })) << "the descriptor was not closed";
  EXPECT_EQ(b->errors, std::vector<int>{UV_EOF});
}

TEST_P(TransportCloseTest, ClosingWhileASendWaitsForRoomCancelsItQuietly) {
  auto [writer, reader] = small_pipe_pair();
  writer->t.start_reading();
  write_in_pieces(*writer, pattern(1 << 20, 21));
  run_for(20);  // io_uring: the send is in the kernel, waiting for room the reader never makes
  ASSERT_TRUE(writer->t.has_pending_writes());
  writer->close();
  ASSERT_TRUE(run_until([&] { return writer->closed == 1; }));
  EXPECT_EQ(writer->events_after_close, 0);
  EXPECT_TRUE(writer->errors.empty());
  if (ring_) {
    EXPECT_EQ(ring_->in_flight(), 0u);
  }
  (void)reader;
}

// What a session does with its last ERR: write, then close at once. The socket has room, so the
// bytes go out, as uv_try_write sends them on the epoll backend.
TEST_P(TransportCloseTest, BytesWrittenJustBeforeCloseReachThePeer) {
  auto [a, b] = pipe_pair();
  b->t.start_reading();
  const auto last = pattern(3000, 22);
  a->t.write(last);
  a->close();
  ASSERT_TRUE(run_until([&] { return a->closed == 1 && !b->errors.empty(); }));
  EXPECT_TRUE(b->data == last);
  EXPECT_EQ(b->errors, std::vector<int>{UV_EOF});
}

TEST_P(TransportCloseTest, BytesAndEofWhileStoppedComeInOrderOnResume) {
  auto [a, b] = pipe_pair();
  b->t.start_reading();
  a->t.write(std::vector<uint8_t>{1});
  ASSERT_TRUE(run_until([&] { return b->data.size() == 1; }));
  b->t.stop_reading();
  const auto more = pattern(40000, 23);
  a->t.write(more);
  a->close();
  ASSERT_TRUE(run_until([&] { return a->closed == 1; }));
  run_for(30);
  EXPECT_EQ(b->data.size(), 1u) << "no data while stopped";
  EXPECT_TRUE(b->errors.empty()) << "no EOF while stopped, before the bytes";
  b->t.start_reading();
  ASSERT_TRUE(run_until([&] { return !b->errors.empty(); }));
  EXPECT_EQ(b->data.size(), 1 + more.size());
  EXPECT_TRUE(std::equal(more.begin(), more.end(), b->data.begin() + 1));
  EXPECT_EQ(b->errors, std::vector<int>{UV_EOF});
}

// io_uring: one read of 40 000 bytes is several completions (16 KiB buffers) in one batch; those
// after stop_reading() are held, not delivered, and come first when reading resumes.
TEST_P(TransportCloseTest, NoDataAfterStopReadingEvenFromCompletionsAlreadyReaped) {
  auto fds = testing::make_socketpair();
  Endpoint& reader = pipe_endpoint(fds.a);
  const int raw = keep_raw(fds.b);
  int calls_after_stop = 0;
  bool stopped = false;
  reader.data_hook = [&](Endpoint& self, std::span<const uint8_t> d) {
    if (stopped) ++calls_after_stop;
    self.data.insert(self.data.end(), d.begin(), d.end());
    if (!stopped) {
      stopped = true;
      self.t.stop_reading();
    }
  };
  reader.t.start_reading();
  run_for(10);  // io_uring: the receive is armed before the bytes come
  const auto bytes = pattern(40000, 25);
  ASSERT_EQ(::write(raw, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_TRUE(run_until([&] { return stopped; }));
  run_for(30);
  EXPECT_EQ(calls_after_stop, 0) << "on_data after stop_reading()";
  reader.t.start_reading();
  // io_uring: the held bytes come from the loop's prepare callback, after which the loop waits
  // for I/O; run_until() would only look again at its deadline.
  run_for(20);
  EXPECT_EQ(reader.data.size(), bytes.size());
  EXPECT_TRUE(reader.data == bytes) << "held bytes lost or out of order";
}

TEST_P(TransportCloseTest, ClosingWithHeldBytesDropsThemQuietly) {
  auto [a, b] = pipe_pair();
  b->t.start_reading();
  run_for(10);
  b->t.stop_reading();
  a->t.write(pattern(5000, 24));
  run_for(20);
  b->close();
  ASSERT_TRUE(run_until([&] { return b->closed == 1; }));
  EXPECT_TRUE(b->data.empty());
  EXPECT_EQ(b->events_after_close, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, TransportCloseTest, ::testing::Values(Backend::epoll, Backend::io_uring),
                         testing::backend_name);

}  // namespace
}  // namespace camproxy::proxy
