#include "proxy/session/sql_classifier.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace camproxy::proxy {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// Splits SQL text into words, skipping comments and string literals; reports user-variable
// references ('@x', not '@@x') and statement separators.
class Lexer {
 public:
  explicit Lexer(std::string_view sql) : s_(sql) {}

  enum class Kind { word, quoted_identifier, string, number, user_variable, separator, other, end };
  struct Token {
    Kind kind;
    std::string_view text;
  };

  Token next() {
    skip_space_and_comments();
    if (pos_ >= s_.size()) return {Kind::end, {}};
    const size_t start = pos_;
    const char c = s_[pos_];
    if (c == ';') {
      ++pos_;
      return {Kind::separator, s_.substr(start, 1)};
    }
    if (c == '\'' || c == '"' || c == '`') {
      skip_quoted(c);
      return {c == '`' ? Kind::quoted_identifier : Kind::string, s_.substr(start + 1, pos_ - start - 2)};
    }
    if (c == '@') {
      if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '@') {  // @@system_variable
        pos_ += 2;
        while (pos_ < s_.size() && (is_word_char(s_[pos_]) || s_[pos_] == '.')) ++pos_;
        return {Kind::other, s_.substr(start, pos_ - start)};
      }
      ++pos_;
      while (pos_ < s_.size() && (is_word_char(s_[pos_]) || s_[pos_] == '.')) ++pos_;
      return {Kind::user_variable, s_.substr(start, pos_ - start)};
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (pos_ < s_.size() && is_word_char(s_[pos_])) ++pos_;
      return {Kind::number, s_.substr(start, pos_ - start)};
    }
    if (is_word_char(c)) {
      while (pos_ < s_.size() && is_word_char(s_[pos_])) ++pos_;
      return {Kind::word, s_.substr(start, pos_ - start)};
    }
    ++pos_;
    return {Kind::other, s_.substr(start, 1)};
  }

  size_t position() const { return pos_; }

 private:
  void skip_space_and_comments() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '#' || (c == '-' && s_.substr(pos_, 3).size() == 3 && s_[pos_ + 1] == '-' &&
                              std::isspace(static_cast<unsigned char>(s_[pos_ + 2])))) {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
        // Executable comments (/*! ... */, /*M! ... */) hold real SQL: read their content.
        if (pos_ + 2 < s_.size() && (s_[pos_ + 2] == '!' || s_[pos_ + 2] == 'M')) {
          pos_ += 3;
          while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '!')) ++pos_;
          continue;
        }
        auto end = s_.find("*/", pos_ + 2);
        pos_ = end == std::string_view::npos ? s_.size() : end + 2;
      } else if (c == '*' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
        pos_ += 2;  // end of an executable comment
      } else {
        return;
      }
    }
  }

  void skip_quoted(char quote) {
    ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '\\' && quote != '`') {
        if (pos_ < s_.size()) ++pos_;
      } else if (c == quote) {
        if (pos_ < s_.size() && s_[pos_] == quote) {
          ++pos_;  // doubled quote
        } else {
          return;
        }
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Words after which a statement leaves state that cannot be re-created on another connection.
constexpr std::array<std::string_view, 9> kUnreplayableWords = {
    "TEMPORARY", "PREPARE", "LOCK", "GET_LOCK", "HANDLER", "XA", "SAVEPOINT", "SQL_CALC_FOUND_ROWS", "DEALLOCATE"};

// What a word of kUnreplayableWords (or a user variable) pins under --pool-mode transaction, given
// the first word of its statement; nullopt: nothing beyond the open transaction the status flags
// show (SAVEPOINT exists only inside one).
std::optional<PinReason> pin_of(std::string_view word, std::string_view verb) {
  if (iequals(word, "TEMPORARY")) return PinReason::temporary_table;
  if (iequals(word, "PREPARE") || iequals(word, "DEALLOCATE")) return PinReason::prepared_statement;
  if (iequals(word, "LOCK")) {
    if (iequals(verb, "LOCK")) return PinReason::lock_tables;
    if (iequals(verb, "FLUSH")) return PinReason::read_lock;
    return PinReason::unfollowable;  // ... LOCK IN SHARE MODE, and what camproxy does not know
  }
  if (iequals(word, "GET_LOCK")) return PinReason::get_lock;
  if (iequals(word, "XA")) return PinReason::xa;
  if (iequals(word, "SQL_CALC_FOUND_ROWS")) return PinReason::last_result;
  if (iequals(word, "SAVEPOINT")) return std::nullopt;
  return PinReason::unfollowable;  // HANDLER
}

std::optional<uint64_t> parse_id(std::string_view digits) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<KillStatement> parse_kill(std::string_view sql) {
  Lexer lex(sql);
  auto t = lex.next();
  if (t.kind != Lexer::Kind::word || !iequals(t.text, "KILL")) return std::nullopt;
  KillStatement k;
  t = lex.next();
  if (t.kind == Lexer::Kind::word && (iequals(t.text, "HARD") || iequals(t.text, "SOFT"))) t = lex.next();
  if (t.kind == Lexer::Kind::word && iequals(t.text, "CONNECTION")) {
    t = lex.next();
  } else if (t.kind == Lexer::Kind::word && iequals(t.text, "QUERY")) {
    k.target = KillStatement::Target::query;
    t = lex.next();
    if (t.kind == Lexer::Kind::word && iequals(t.text, "ID")) {
      k.target = KillStatement::Target::query_id;
      t = lex.next();
    }
  } else if (t.kind == Lexer::Kind::word && iequals(t.text, "USER")) {
    k.target = KillStatement::Target::user;
    return k;
  }
  if (t.kind != Lexer::Kind::number) return std::nullopt;
  auto id = parse_id(t.text);
  if (!id) return std::nullopt;
  k.id = *id;
  t = lex.next();
  if (t.kind == Lexer::Kind::separator) t = lex.next();
  if (t.kind != Lexer::Kind::end) return std::nullopt;
  return k;
}

namespace {

// One pass over a COM_QUERY's statements (classify_statements): what each leaves in the session.
class StatementClassifier {
 public:
  explicit StatementClassifier(std::string_view sql) : sql_(sql), lex_(sql) {}

  SessionEffects run() {
    for (auto t = lex_.next();; t = lex_.next()) {
      if (last_insert_id_call_ != Call::none) follow_last_insert_id_call(t);
      if (t.kind == Lexer::Kind::end) {
        finish_statement(sql_.size());
        break;
      }
      if (t.kind == Lexer::Kind::separator) {
        finish_statement(lex_.position());
        statement_start_ = lex_.position();
        continue;
      }
      if (t.kind == Lexer::Kind::user_variable) {
        mark("user variable");
        fx_.pins |= pin_bit(PinReason::user_variable);
      }
      if (t.kind != Lexer::Kind::word) {
        first_word_ = false;
        continue;
      }
      on_word(t.text);
    }
    if (fx_.unreplayable && !fx_.replayable_sets.empty()) {
      // The SETs beside what cannot be replayed are dropped: the session cannot move either.
      fx_.replayable_sets.clear();
      fx_.pins |= pin_bit(PinReason::unfollowable);
    }
    return std::move(fx_);
  }

 private:
  // LAST_INSERT_ID(expr) sets LAST_INSERT_ID(); LAST_INSERT_ID() only reads it. Anything but
  // exactly "()" after the name counts as setting it.
  enum class Call { none, name, open };
  void follow_last_insert_id_call(const Lexer::Token& t) {
    const bool open = t.kind == Lexer::Kind::other && t.text == "(";
    const bool close = t.kind == Lexer::Kind::other && t.text == ")";
    if (last_insert_id_call_ == Call::name && open) {
      last_insert_id_call_ = Call::open;
      return;
    }
    if (last_insert_id_call_ == Call::name || !close) fx_.last_insert_id_may_change = true;
    last_insert_id_call_ = Call::none;
  }

  void mark(std::string_view why) {
    if (!fx_.unreplayable) fx_.reason = why;
    fx_.unreplayable = true;
  }

  void on_word(std::string_view word) {
    if (first_word_) verb_ = word;
    for (auto w : kUnreplayableWords) {
      if (!iequals(word, w)) continue;
      mark(w);
      if (auto pin = pin_of(word, verb_)) fx_.pins |= pin_bit(*pin);
    }
    if (iequals(word, "LAST_INSERT_ID")) last_insert_id_call_ = Call::name;
    if (iequals(word, "RETURNING")) fx_.last_insert_id_may_change = true;
    if (after_drop_) {  // dropping the current database leaves none selected
      if (iequals(word, "DATABASE") || iequals(word, "SCHEMA")) fx_.schema_uncertain = true;
      after_drop_ = false;
    }
    if (!first_word_) return;
    first_word_ = false;
    if (iequals(word, "PREPARE") || iequals(word, "EXECUTE") || iequals(word, "CALL")) fx_.role_may_change = true;
    // A procedure may leave anything behind (user variables, temporary tables, locks).
    if (iequals(word, "CALL") || iequals(word, "EXECUTE")) fx_.pins |= pin_bit(PinReason::unfollowable);
    if (iequals(word, "UNLOCK")) fx_.unlock_tables = true;
    if (iequals(word, "USE")) on_use();
    after_drop_ = iequals(word, "DROP");
    is_set_ = iequals(word, "SET");
    if (is_set_) on_set();
  }

  void on_use() {
    auto db = lex_.next();
    const bool plain = db.kind == Lexer::Kind::word ||
                       (db.kind == Lexer::Kind::quoted_identifier && db.text.find('`') == std::string_view::npos);
    if (plain) {
      fx_.schema = std::string(db.text);
    } else {
      fx_.schema_uncertain = true;  // e.g. "db" under ANSI_QUOTES, or `a``b`
    }
  }

  // The word after SET says whether the statement is a session SET that can be replayed.
  void on_set() {
    auto after = lex_.next();
    if (after.kind == Lexer::Kind::word) {
      set_global_ =
          iequals(after.text, "GLOBAL") || iequals(after.text, "PERSIST") || iequals(after.text, "PERSIST_ONLY");
      set_transaction_ = iequals(after.text, "TRANSACTION") || iequals(after.text, "PASSWORD") ||
                         iequals(after.text, "ROLE") || iequals(after.text, "STATEMENT");
      if (iequals(after.text, "ROLE")) fx_.role_may_change = true;
    } else if (after.kind == Lexer::Kind::user_variable) {
      mark("user variable");
      fx_.pins |= pin_bit(PinReason::user_variable);
      is_set_ = false;
    } else if (after.kind == Lexer::Kind::other && after.text.starts_with("@@")) {
      set_global_ = after.text.size() > 8 && iequals(after.text.substr(2, 7), "global.");
    }
  }

  void finish_statement(size_t end) {
    if (is_set_ && !set_global_) {
      if (set_transaction_) {
        mark("SET TRANSACTION");
        fx_.pins |= pin_bit(PinReason::unfollowable);
      } else {
        std::string_view text = sql_.substr(statement_start_, end - statement_start_);
        while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) || text.back() == ';'))
          text.remove_suffix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
        if (auto wait_timeout = wait_timeout_set(text)) fx_.wait_timeout = wait_timeout;
        fx_.replayable_sets.emplace_back(text);
      }
    }
    first_word_ = true;
    is_set_ = after_drop_ = set_global_ = set_transaction_ = false;
  }

  std::string_view sql_;
  Lexer lex_;
  SessionEffects fx_;
  std::string_view verb_;  // the current statement's first word
  size_t statement_start_ = 0;
  bool first_word_ = true;
  bool is_set_ = false;
  bool after_drop_ = false;  // the word after a statement's first DROP is next
  Call last_insert_id_call_ = Call::none;
  bool set_global_ = false;
  bool set_transaction_ = false;
};

}  // namespace

SessionEffects classify_statements(std::string_view sql) { return StatementClassifier(sql).run(); }

namespace {

// wait_timeout's range (MariaDB 10.11, MySQL 8.0): a value outside it is clamped, with a warning.
constexpr uint64_t kMinWaitTimeout = 1;
constexpr uint64_t kMaxWaitTimeout = 31536000;

bool is_wait_timeout(const Lexer::Token& t) {
  if (t.kind == Lexer::Kind::word) return iequals(t.text, "wait_timeout");
  if (t.kind != Lexer::Kind::other || !t.text.starts_with("@@")) return false;
  std::string_view name = t.text.substr(2);
  for (std::string_view scope : {"session.", "local."}) {
    if (name.size() > scope.size() && iequals(name.substr(0, scope.size()), scope)) name.remove_prefix(scope.size());
  }
  return iequals(name, "wait_timeout");
}

}  // namespace

// SET [SESSION | LOCAL] name = value [, ...] with name wait_timeout, @@wait_timeout,
// @@session.wait_timeout or @@local.wait_timeout; `:=` as well as `=`.
std::optional<WaitTimeoutSet> wait_timeout_set(std::string_view set_statement) {
  Lexer lex(set_statement);
  auto t = lex.next();
  if (t.kind != Lexer::Kind::word || !iequals(t.text, "SET")) return std::nullopt;
  std::optional<WaitTimeoutSet> found;
  for (t = lex.next(); t.kind != Lexer::Kind::end && t.kind != Lexer::Kind::separator;) {
    if (t.kind == Lexer::Kind::word && (iequals(t.text, "SESSION") || iequals(t.text, "LOCAL"))) t = lex.next();
    const bool ours = is_wait_timeout(t);
    t = lex.next();
    if (t.kind == Lexer::Kind::other && t.text == ":") t = lex.next();
    if (t.kind != Lexer::Kind::other || t.text != "=") return ours ? WaitTimeoutSet{} : found;
    // The value: every token up to the next top-level comma.
    WaitTimeoutSet value;
    int depth = 0;
    size_t tokens = 0;
    for (t = lex.next(); t.kind != Lexer::Kind::end && t.kind != Lexer::Kind::separator; t = lex.next()) {
      if (t.kind == Lexer::Kind::other && t.text == "," && depth == 0) break;
      if (t.kind == Lexer::Kind::other && t.text == "(") ++depth;
      if (t.kind == Lexer::Kind::other && t.text == ")") --depth;
      if (++tokens > 1) continue;
      if (t.kind == Lexer::Kind::number) {
        if (auto n = parse_id(t.text)) {
          value.kind = WaitTimeoutSet::Kind::seconds;
          value.seconds = static_cast<uint32_t>(std::clamp(*n, kMinWaitTimeout, kMaxWaitTimeout));
        }
      } else if (t.kind == Lexer::Kind::word && iequals(t.text, "DEFAULT")) {
        value.kind = WaitTimeoutSet::Kind::default_value;
      }
    }
    if (tokens != 1) value = {};  // an expression: 60*60, -1, 1.5, a subquery
    if (ours) found = value;
    if (t.kind == Lexer::Kind::other && t.text == ",") t = lex.next();
  }
  return found;
}

}  // namespace camproxy::proxy
