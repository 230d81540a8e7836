#pragma once
// Walks the client-to-server byte stream of a relayed session and stops at the start of each
// command, so the session can look at it before it reaches the database: COM_QUIT,
// COM_CHANGE_USER and KILL are answered by camproxy itself (spec/mysql-protocol.md §2.7, §7.3)
// and COM_QUERY text tells which session state a reconnect would have to re-create (§7.2).
//
// Bytes of a command are held only until the decision can be made: the header and command
// byte, or a whole COM_QUERY / COM_PROCESS_KILL of at most `hold_limit` bytes; with
// hold_statements() (--pool-mode transaction) also a whole COM_STMT_PREPARE of at most
// `prepare_hold_limit` bytes (its text is kept to prepare it again on another connection,
// statement_map.h) and up to `hold_limit` bytes of the commands that name a prepared statement
// (its id, and an execute's parameter types, may be rewritten). Everything else
// passes through as it arrives; the hold buffer is the only copy and is reused.
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/packet.h"

namespace camproxy::proxy {

class CommandFramer {
 public:
  explicit CommandFramer(size_t hold_limit = 4096, size_t prepare_hold_limit = 64 * 1024)
      : hold_limit_(hold_limit), prepare_hold_limit_(prepare_hold_limit) {}

  struct Piece {
    enum class Kind {
      forward,  // pass `bytes` on unchanged
      command,  // the start of a command: `bytes` = header + payload (all of it when `whole`)
    };
    Kind kind;
    std::span<const uint8_t> bytes;
    bool whole = false;
  };

  // Splits `in` into pieces. While `raw()` is true (a LOCAL INFILE upload or an auth exchange
  // is open) packets are not commands: they are forwarded as they come. It is asked at each
  // packet, after the pieces before it were handled: the upload's empty packet that ends it and
  // the next command may come in one read. After a `command` piece the caller either lets the
  // packet continue (the rest is forwarded), calls skip_packet() or rewind_command(). Returns the
  // bytes of `in` left unread after a rewind_command() (else empty).
  template <class Raw, class OnPiece>
  std::span<const uint8_t> feed(std::span<const uint8_t> in, Raw&& raw, OnPiece&& on_piece);

  // Drops the rest of the command packet last reported (camproxy answers it itself).
  void skip_packet() { skipping_ = true; }
  // The caller keeps the command piece last reported and feeds it again later, with the bytes
  // feed() returns: framing stops at once and goes back to before the command's header.
  void rewind_command() { rewind_ = true; }
  // Statements are carried between connections: their commands are held as above. Off (session
  // mode), they pass through like any other command, uncopied.
  void hold_statements(bool on) { statements_ = on; }
  bool at_boundary() const { return left_ == 0 && hold_.empty() && !continues_; }
  void release_memory();

 private:
  size_t hold_limit_;
  size_t prepare_hold_limit_;
  std::vector<uint8_t> hold_;
  uint64_t left_ = 0;       // payload bytes of the current frame still to pass (or skip)
  bool continues_ = false;  // the current frame was 0xFFFFFF long: another frame follows
  bool skipping_ = false;
  bool rewind_ = false;
  bool statements_ = false;
};

template <class Raw, class OnPiece>
std::span<const uint8_t> CommandFramer::feed(std::span<const uint8_t> in, Raw&& raw, OnPiece&& on_piece) {
  while (!in.empty()) {
    if (left_ > 0) {  // inside a frame: pass or skip its payload
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size()));
      if (!skipping_) on_piece(Piece{Piece::Kind::forward, in.first(n)});
      left_ -= n;
      in = in.subspan(n);
      if (left_ == 0 && !continues_) skipping_ = false;
      continue;
    }
    // A frame header, maybe split across reads.
    const size_t need = protocol::kHeaderSize - std::min(hold_.size(), protocol::kHeaderSize);
    if (need > 0) {
      const size_t n = std::min(need, in.size());
      hold_.insert(hold_.end(), in.begin(), in.begin() + static_cast<ptrdiff_t>(n));
      in = in.subspan(n);
      if (hold_.size() < protocol::kHeaderSize) return {};
    }
    const protocol::FrameHeader h = protocol::read_frame_header(hold_.data());
    const bool is_continuation = continues_;
    continues_ = h.payload_len == protocol::kMaxFramePayload;
    if (is_continuation || skipping_ || raw()) {
      if (!skipping_) on_piece(Piece{Piece::Kind::forward, std::span<const uint8_t>(hold_)});
      left_ = h.payload_len;
      hold_.clear();
      if (left_ == 0 && !continues_) skipping_ = false;
      continue;
    }
    // A command starts. Hold its first byte, or all of a small text command.
    const uint8_t first = hold_.size() > protocol::kHeaderSize ? hold_[protocol::kHeaderSize] : in.empty() ? 0 : in[0];
    if (hold_.size() == protocol::kHeaderSize && h.payload_len > 0 && in.empty()) return {};
    const bool small = h.payload_len <= hold_limit_ && !continues_;
    // QUERY, INIT_DB, PROCESS_KILL, CHANGE_USER, SET_OPTION and STMT_PREPARE are read whole;
    // STMT_EXECUTE, _SEND_LONG_DATA, _CLOSE, _RESET, _FETCH and BULK_EXECUTE (0xFA) by a prefix;
    // others by their first byte.
    const bool hold_all =
        (small && (first == 0x03 || first == 0x02 || first == 0x0C || first == 0x11 || first == 0x1B)) ||
        (statements_ && first == 0x16 && h.payload_len <= prepare_hold_limit_ && !continues_);
    const bool names_statement = statements_ && (first == 0x17 || first == 0x18 || first == 0x19 || first == 0x1A ||
                                                 first == 0x1C || first == 0xFA);
    const size_t body = hold_all          ? h.payload_len
                        : names_statement ? std::min<size_t>(h.payload_len, hold_limit_)
                                          : std::min<uint32_t>(h.payload_len, 1);
    const size_t want = protocol::kHeaderSize + body;
    const size_t n = std::min(want - hold_.size(), in.size());
    hold_.insert(hold_.end(), in.begin(), in.begin() + static_cast<ptrdiff_t>(n));
    in = in.subspan(n);
    if (hold_.size() < want) return {};
    left_ = h.payload_len - (hold_.size() - protocol::kHeaderSize);
    skipping_ = false;
    on_piece(Piece{Piece::Kind::command, std::span<const uint8_t>(hold_), left_ == 0 && !continues_});
    hold_.clear();
    if (rewind_) {  // a command never continues another frame: nothing of it is left
      rewind_ = false;
      left_ = 0;
      continues_ = false;
      skipping_ = false;
      return in;
    }
    if (left_ == 0 && !continues_) skipping_ = false;
  }
  return {};
}

}  // namespace camproxy::proxy
