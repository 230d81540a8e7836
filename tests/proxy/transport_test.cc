// Transport on a real loop: plaintext and TLS over socketpairs and loopback TCP, back-pressure
// both ways, bytes that arrive before TLS starts, the peer going away mid-write, and close().
// Every test runs on both raw-I/O backends: epoll (libuv) and io_uring (a UringLoop attached to
// the loop); the io_uring ones are skipped where the kernel refuses io_uring.
#include "proxy/net/transport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/proxy/transport_fixture.h"

namespace camproxy::proxy {
namespace {

using testing::Backend;
using testing::Endpoint;
using testing::pattern;
using testing::TransportTest;

TEST_P(TransportTest, BytesFlowBothWaysOverASocketpair) {
  auto [a, b] = pipe_pair();
  a->t.start_reading();
  b->t.start_reading();
  a->t.write(std::vector<uint8_t>{'p', 'i', 'n', 'g'});
  b->t.write(std::vector<uint8_t>{'p', 'o', 'n', 'g', '!'});
  ASSERT_TRUE(run_until([&] { return a->data.size() == 5 && b->data.size() == 4; }));
  EXPECT_EQ(b->data, (std::vector<uint8_t>{'p', 'i', 'n', 'g'}));
  EXPECT_EQ(a->data, (std::vector<uint8_t>{'p', 'o', 'n', 'g', '!'}));
  EXPECT_EQ(a->t.bytes_out(), 4u);
  EXPECT_EQ(a->t.bytes_in(), 5u);
  EXPECT_TRUE(a->errors.empty());
  EXPECT_TRUE(b->errors.empty());
}

TEST_P(TransportTest, BytesFlowBothWaysOverLoopbackTcp) {
  auto fds = testing::make_tcp_pair();
  Endpoint& a = tcp_endpoint(fds.a);
  Endpoint& b = tcp_endpoint(fds.b);
  a.t.start_reading();
  b.t.start_reading();
  const auto to_b = pattern(300000, 1);
  const auto to_a = pattern(200000, 2);
  write_in_pieces(a, to_b);
  write_in_pieces(b, to_a);
  ASSERT_TRUE(run_until([&] { return a.data.size() == to_a.size() && b.data.size() == to_b.size(); }));
  EXPECT_TRUE(a.data == to_a);
  EXPECT_TRUE(b.data == to_b);
}

TEST_P(TransportTest, StopReadingHoldsBackTheWriterUntilTheReaderResumes) {
  auto [writer, reader] = small_pipe_pair();
  const auto bytes = pattern(1 << 20, 3);
  write_in_pieces(*writer, bytes);
  EXPECT_TRUE(writer->t.has_pending_writes()) << "the kernel took a whole MiB: buffers not shrunk?";
  run_for(50);
  EXPECT_TRUE(writer->t.has_pending_writes());
  EXPECT_EQ(writer->drained, 0);
  EXPECT_TRUE(reader->data.empty());

  reader->t.start_reading();
  ASSERT_TRUE(run_until([&] { return writer->drained > 0 && reader->data.size() == bytes.size(); }));
  EXPECT_FALSE(writer->t.has_pending_writes());
  EXPECT_EQ(writer->drained, 1) << "one on_drained once the whole queue is written";
  EXPECT_TRUE(reader->data == bytes) << "nothing lost, order kept";
  EXPECT_TRUE(writer->errors.empty());
}

TEST_P(TransportTest, BackPressureWorksInBothDirectionsAtOnce) {
  auto [a, b] = small_pipe_pair();
  const auto to_b = pattern(512 * 1024, 4);
  const auto to_a = pattern(384 * 1024, 5);
  write_in_pieces(*a, to_b);
  write_in_pieces(*b, to_a);
  EXPECT_TRUE(a->t.has_pending_writes());
  EXPECT_TRUE(b->t.has_pending_writes());
  // Only `a` reads: b's queue drains, a's stays.
  a->t.start_reading();
  ASSERT_TRUE(run_until([&] { return b->drained > 0 && a->data.size() == to_a.size(); }));
  EXPECT_TRUE(a->data == to_a);
  EXPECT_TRUE(a->t.has_pending_writes());
  EXPECT_EQ(a->drained, 0);
  // Writes made while queued go behind what is queued.
  const auto more = pattern(1000, 6);
  a->t.write(more);
  b->t.start_reading();
  ASSERT_TRUE(run_until([&] { return a->drained > 0 && b->data.size() == to_b.size() + more.size(); }));
  auto expected = to_b;
  expected.insert(expected.end(), more.begin(), more.end());
  EXPECT_TRUE(b->data == expected);
}

TEST_P(TransportTest, ReadingStopsAndResumesWithoutLosingBytes) {
  auto [a, b] = pipe_pair();
  b->t.start_reading();
  a->t.write(std::vector<uint8_t>{1, 2, 3});
  ASSERT_TRUE(run_until([&] { return b->data.size() == 3; }));
  b->t.stop_reading();
  a->t.write(std::vector<uint8_t>{4, 5});
  run_for(30);
  EXPECT_EQ(b->data.size(), 3u) << "no data while stopped";
  b->t.start_reading();
  ASSERT_TRUE(run_until([&] { return b->data.size() == 5; }));
  EXPECT_EQ(b->data, (std::vector<uint8_t>{1, 2, 3, 4, 5}));
}

// As a relay does: the reader stops at each delivery (its destination is full) and resumes on a
// later loop turn (an idle handle here, on_drained there). Whatever the backend received
// meanwhile (io_uring: the completions made before the receive's cancel landed) comes after
// resuming, in order, in pieces no larger than one read, and never while stopped.
TEST_P(TransportTest, BytesReceivedWhileStoppedComeInOrderInPiecesHonouringEachStop) {
  struct Reader {
    Endpoint* e;
    uv_idle_t resume{};
    int deliveries_while_stopped = 0;
    size_t largest_piece = 0;
  } r{};
  auto [writer, reader] = pipe_pair();
  r.e = reader;
  const auto bytes = pattern(2 << 20, 5);
  uv_idle_init(loop(), &r.resume);
  r.resume.data = &r;
  reader->data_hook = [&r](Endpoint& e, std::span<const uint8_t> d) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&r.resume)) != 0) ++r.deliveries_while_stopped;
    r.largest_piece = std::max(r.largest_piece, d.size());
    e.data.insert(e.data.end(), d.begin(), d.end());
    e.t.stop_reading();
    uv_idle_start(&r.resume, [](uv_idle_t* h) {
      uv_idle_stop(h);
      static_cast<Reader*>(h->data)->e->t.start_reading();
    });
  };
  reader->t.start_reading();
  write_in_pieces(*writer, bytes);
  EXPECT_TRUE(run_until([&] { return reader->data.size() >= bytes.size(); }));
  uv_close(reinterpret_cast<uv_handle_t*>(&r.resume),
           [](uv_handle_t* h) { static_cast<Reader*>(h->data)->e = nullptr; });
  ASSERT_TRUE(run_until([&] { return r.e == nullptr; })) << "the idle handle outlives the test";
  EXPECT_EQ(r.deliveries_while_stopped, 0) << "on_data after stop_reading()";
  EXPECT_LE(r.largest_piece, size_t{64 * 1024}) << "a held burst delivered at once";
  EXPECT_TRUE(reader->data == bytes) << "nothing lost, order kept";
  EXPECT_TRUE(reader->errors.empty());
}

TEST_P(TransportTest, TlsOnBothEndsCarriesBytesEncrypted) {
  auto [client, server] = pipe_pair();
  client->t.start_reading();
  server->t.start_reading();
  start_tls_pair(*client, *server);
  ASSERT_TRUE(run_until([&] { return client->tls_ready == 1 && server->tls_ready == 1; }));
  EXPECT_TRUE(client->t.tls_on());
  EXPECT_TRUE(server->t.tls_on());
  const uint64_t wire_before = client->t.bytes_out();
  const auto to_server = pattern(100000, 7);
  const auto to_client = pattern(70000, 8);
  write_in_pieces(*client, to_server);
  write_in_pieces(*server, to_client);
  ASSERT_TRUE(
      run_until([&] { return client->data.size() == to_client.size() && server->data.size() == to_server.size(); }));
  EXPECT_TRUE(server->data == to_server);
  EXPECT_TRUE(client->data == to_client);
  EXPECT_GT(client->t.bytes_out() - wire_before, to_server.size())
      << "records add framing: the wire carries ciphertext";
  EXPECT_EQ(client->tls_ready, 1);
  EXPECT_TRUE(client->errors.empty());
  EXPECT_TRUE(server->errors.empty());
}

TEST_P(TransportTest, TlsKeepsBackPressureAndOrder) {
  auto [client, server] = small_pipe_pair();
  client->t.start_reading();
  server->t.start_reading();
  start_tls_pair(*client, *server);
  ASSERT_TRUE(run_until([&] { return client->tls_ready == 1 && server->tls_ready == 1; }));
  server->t.stop_reading();
  const auto bytes = pattern(600 * 1024, 9);
  write_in_pieces(*client, bytes);
  EXPECT_TRUE(client->t.has_pending_writes());
  server->t.start_reading();
  ASSERT_TRUE(run_until([&] { return client->drained > 0 && server->data.size() == bytes.size(); }));
  EXPECT_TRUE(server->data == bytes);
}

// The SSLRequest case (spec/mysql-protocol.md §2.3): the peer's first TLS bytes arrive in the
// same read as the plaintext before them, and must reach TLS through start_tls's early bytes.
TEST_P(TransportTest, BytesReadBeforeStartTlsAreHandedToTls) {
  auto [client, server] = pipe_pair();
  std::string error;
  server_ctx_ = make_client_facing_ctx("", "", error);
  ASSERT_TRUE(server_ctx_) << error;
  client_ctx_ = make_upstream_ctx(UpstreamTlsMode::insecure_required, "", error);
  ASSERT_TRUE(client_ctx_) << error;

  const std::vector<uint8_t> hello = {'S', 'S', 'L', '?'};
  size_t early_size = 0;
  server->data_hook = [&](Endpoint& self, std::span<const uint8_t> d) {
    if (self.t.tls_on()) {
      self.data.insert(self.data.end(), d.begin(), d.end());
      return;
    }
    ASSERT_GE(d.size(), hello.size());
    EXPECT_TRUE(std::equal(hello.begin(), hello.end(), d.begin()));
    early_size = d.size() - hello.size();
    SSL* s = SSL_new(server_ctx_.get());
    SSL_set_accept_state(s);
    self.t.start_tls(s, d.subspan(hello.size()));
  };
  // The plaintext and the ClientHello are both written before the server reads once.
  client->t.write(hello);
  SSL* c = SSL_new(client_ctx_.get());
  SSL_set_connect_state(c);
  client->t.start_tls(c, {});
  client->t.start_reading();
  server->t.start_reading();
  ASSERT_TRUE(run_until([&] { return client->tls_ready == 1 && server->tls_ready == 1; }))
      << "the ClientHello read with the plaintext was lost";
  EXPECT_GT(early_size, 0u) << "the ClientHello came in a later read: the early path was not exercised";
  client->t.write(std::vector<uint8_t>{'o', 'k'});
  ASSERT_TRUE(run_until([&] { return server->data.size() == 2; }));
  EXPECT_EQ(server->data, (std::vector<uint8_t>{'o', 'k'}));
}

TEST_P(TransportTest, PlaintextWhereTlsIsExpectedIsATlsError) {
  auto [client, server] = pipe_pair();
  std::string error;
  server_ctx_ = make_client_facing_ctx("", "", error);
  ASSERT_TRUE(server_ctx_) << error;
  SSL* s = SSL_new(server_ctx_.get());
  SSL_set_accept_state(s);
  server->t.start_tls(s, {});
  server->t.start_reading();
  const auto garbage = pattern(600, 10);
  client->t.write(garbage);
  ASSERT_TRUE(run_until([&] { return !server->errors.empty(); }));
  EXPECT_EQ(server->errors, std::vector<int>{Transport::kTlsError});
  EXPECT_TRUE(server->data.empty());
  EXPECT_EQ(server->tls_ready, 0);
}

TEST_P(TransportTest, AnOrderlyPeerCloseIsEofOnce) {
  auto [a, b] = pipe_pair();
  a->t.start_reading();
  b->close();
  ASSERT_TRUE(run_until([&] { return !a->errors.empty() && b->closed == 1; }));
  run_for(20);
  EXPECT_EQ(a->errors, std::vector<int>{UV_EOF});
  // After an error, writes are dropped quietly (no second on_error, no crash).
  a->t.write(std::vector<uint8_t>{1});
  run_for(20);
  EXPECT_EQ(a->errors.size(), 1u);
}

TEST_P(TransportTest, PeerClosingMidWriteIsOneErrorAndNoCallbackAfterClose) {
  auto [writer, reader] = small_pipe_pair();
  writer->t.start_reading();
  write_in_pieces(*writer, pattern(1 << 20, 11));
  ASSERT_TRUE(writer->t.has_pending_writes());
  reader->close();
  ASSERT_TRUE(run_until([&] { return !writer->errors.empty(); }));
  run_for(20);
  ASSERT_EQ(writer->errors.size(), 1u);
  const int code = writer->errors[0];
  EXPECT_TRUE(code == UV_EOF || code == UV_EPIPE || code == UV_ECONNRESET) << uv_err_name(code);
  EXPECT_EQ(writer->drained, 0);
  writer->close();
  ASSERT_TRUE(run_until([&] { return writer->closed == 1; }));
  EXPECT_EQ(writer->events_after_close, 0);
}

TEST_P(TransportTest, ClosingWithQueuedWritesCancelsThemQuietly) {
  auto [writer, reader] = small_pipe_pair();
  write_in_pieces(*writer, pattern(1 << 20, 12));
  ASSERT_TRUE(writer->t.has_pending_writes());
  writer->close();
  EXPECT_TRUE(writer->t.is_closing());
  ASSERT_TRUE(run_until([&] { return writer->closed == 1; }));
  EXPECT_EQ(writer->events_after_close, 0) << "no on_error / on_drained for the cancelled write";
  EXPECT_TRUE(writer->errors.empty());
  (void)reader;
}

TEST_P(TransportTest, CloseTwiceIsSafeAndOnClosedFiresOnce) {
  auto [a, b] = pipe_pair();
  a->t.start_reading();
  a->close();
  a->close();
  EXPECT_EQ(a->closed, 0) << "on_closed comes from the loop, not from close()";
  ASSERT_TRUE(run_until([&] { return a->closed == 1; }));
  a->close();
  a->t.start_reading();
  a->t.write(std::vector<uint8_t>{1, 2});
  run_for(20);
  EXPECT_EQ(a->closed, 1);
  EXPECT_EQ(a->events_after_close, 0);
  EXPECT_EQ(b->data.size(), 0u);
}

TEST_P(TransportTest, ClosingATransportThatNeverOpenedReportsClosedOnce) {
  Endpoint e;
  e.close();
  EXPECT_EQ(e.closed, 1);
  e.close();
  EXPECT_EQ(e.closed, 1);
  EXPECT_TRUE(e.t.is_closing());
}

TEST_P(TransportTest, TlsPeerCloseMidStreamIsOneError) {
  auto [client, server] = pipe_pair();
  client->t.start_reading();
  server->t.start_reading();
  start_tls_pair(*client, *server);
  ASSERT_TRUE(run_until([&] { return client->tls_ready == 1 && server->tls_ready == 1; }));
  server->close();
  ASSERT_TRUE(run_until([&] { return !client->errors.empty(); }));
  run_for(20);
  EXPECT_EQ(client->errors.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, TransportTest, ::testing::Values(Backend::epoll, Backend::io_uring),
                         testing::backend_name);

}  // namespace
}  // namespace camproxy::proxy
