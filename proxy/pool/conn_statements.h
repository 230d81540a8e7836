#pragma once
// --pool-mode transaction: which sessions' server-side prepared statements exist on one database
// connection, and under which server statement id (the session's side is
// proxy/session/statement_map.h). It lives in the UpstreamConn, so it goes wherever the connection
// goes (a session, the pool, the next session) and dies with it; a COM_RESET_CONNECTION or
// COM_CHANGE_USER camproxy sends on the connection clears it, as the server drops every statement
// then (spec/mysql-protocol.md §5.1).
//
// A statement whose session has gone, or closed it while holding another connection, is stale:
// the next session that uses the connection closes it there (COM_STMT_CLOSE has no reply, so it
// rides in front of that session's next command) and the server's max_prepared_stmt_count is not
// leaked. Sessions say that something went stale by bumping a process-wide generation, so a
// connection looks for stale statements only when there can be some.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace camproxy::proxy {

// A session's statements as a connection sees them.
class StatementOwner {
 public:
  // Whether the session still has the statement it knows as `client_id`.
  virtual bool holds(uint32_t client_id) const = 0;

 protected:
  ~StatementOwner() = default;
};

// A session forgot statements or went away: connections look for stale ones again.
void note_statements_forgotten();

class ConnStatements {
 public:
  struct Entry {
    const StatementOwner* owner = nullptr;  // compared only while `life` has not expired
    std::weak_ptr<const StatementOwner> life;
    uint32_t client_id = 0;
    uint32_t server_id = 0;
    bool types_sent = false;  // an execute that carried the parameter types ran on it here
  };

  // The entry of `owner`'s statement `client_id` on this connection, or null.
  Entry* find(const StatementOwner* owner, uint32_t client_id);
  void add(const std::shared_ptr<const StatementOwner>& owner, uint32_t client_id, uint32_t server_id);
  // Forgets the entry (the statement was closed on this connection).
  void remove(const StatementOwner* owner, uint32_t client_id);
  // Calls close(server_id) for each stale entry and forgets it; a no-op unless some session
  // forgot statements since the last call.
  template <class Close>
  void take_stale(Close&& close);
  // The server dropped every statement of the connection (a reset, a COM_CHANGE_USER).
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  static uint64_t generation();
  bool stale(const Entry& e) const;

  std::vector<Entry> entries_;
  uint64_t swept_ = 0;  // generation() at the last take_stale()
};

template <class Close>
void ConnStatements::take_stale(Close&& close) {
  const uint64_t now = generation();
  if (now == swept_) return;
  swept_ = now;
  std::erase_if(entries_, [&](const Entry& e) {
    if (!stale(e)) return false;
    close(e.server_id);
    return true;
  });
}

}  // namespace camproxy::proxy
