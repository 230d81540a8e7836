#include "proxy/sql_classifier.h"

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

  enum class Kind { word, quoted_identifier, number, user_variable, separator, other, end };
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
      return {c == '`' ? Kind::quoted_identifier : Kind::other, s_.substr(start + 1, pos_ - start - 2)};
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

SessionEffects classify_statements(std::string_view sql) {
  SessionEffects fx;
  Lexer lex(sql);
  auto mark = [&](std::string_view why) {
    if (!fx.unreplayable) fx.reason = why;
    fx.unreplayable = true;
  };
  size_t statement_start = 0;
  bool first_word = true;
  bool is_set = false;
  bool is_use = false;
  bool is_drop = false;  // the word after a statement's first DROP is next
  bool set_global = false;
  bool set_transaction = false;
  auto finish_statement = [&](size_t end) {
    if (is_set && !set_global) {
      if (set_transaction) {
        mark("SET TRANSACTION");
      } else {
        std::string_view text = sql.substr(statement_start, end - statement_start);
        while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) || text.back() == ';'))
          text.remove_suffix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
        fx.replayable_sets.emplace_back(text);
      }
    }
    first_word = true;
    is_set = is_use = is_drop = set_global = set_transaction = false;
  };
  for (auto t = lex.next();; t = lex.next()) {
    if (t.kind == Lexer::Kind::end) {
      finish_statement(sql.size());
      break;
    }
    if (t.kind == Lexer::Kind::separator) {
      finish_statement(lex.position());
      statement_start = lex.position();
      continue;
    }
    if (t.kind == Lexer::Kind::user_variable) mark("user variable");
    if (t.kind != Lexer::Kind::word) {
      first_word = false;
      continue;
    }
    for (auto w : kUnreplayableWords) {
      if (iequals(t.text, w)) mark(w);
    }
    if (is_drop) {  // dropping the current database leaves none selected
      if (iequals(t.text, "DATABASE") || iequals(t.text, "SCHEMA")) fx.schema_uncertain = true;
      is_drop = false;
    }
    if (first_word) {
      first_word = false;
      is_set = iequals(t.text, "SET");
      is_use = iequals(t.text, "USE");
      if (is_use) {
        auto db = lex.next();
        const bool plain = db.kind == Lexer::Kind::word ||
                           (db.kind == Lexer::Kind::quoted_identifier && db.text.find('`') == std::string_view::npos);
        if (plain) {
          fx.schema = std::string(db.text);
        } else {
          fx.schema_uncertain = true;  // e.g. "db" under ANSI_QUOTES, or `a``b`
        }
        is_use = false;
      }
      is_drop = iequals(t.text, "DROP");
      if (is_set) {
        auto after = lex.next();
        if (after.kind == Lexer::Kind::word) {
          set_global =
              iequals(after.text, "GLOBAL") || iequals(after.text, "PERSIST") || iequals(after.text, "PERSIST_ONLY");
          set_transaction = iequals(after.text, "TRANSACTION") || iequals(after.text, "PASSWORD") ||
                            iequals(after.text, "ROLE") || iequals(after.text, "STATEMENT");
        } else if (after.kind == Lexer::Kind::user_variable) {
          mark("user variable");
          is_set = false;
        } else if (after.kind == Lexer::Kind::other && after.text.starts_with("@@")) {
          set_global = after.text.size() > 8 && iequals(after.text.substr(2, 7), "global.");
        }
      }
    }
  }
  if (fx.unreplayable) fx.replayable_sets.clear();
  return fx;
}

}  // namespace camproxy::proxy
