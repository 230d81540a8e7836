#include "proxy/config/local_users.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "auth/small_file.h"
#include "protocol/auth_plugins.h"

namespace camproxy::proxy {
namespace {

constexpr size_t kMaxUsersFileBytes = 1024 * 1024;
constexpr std::string_view kPlainPrefix = "plain:";

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::string upper_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

}  // namespace

std::optional<std::string> check_user_name(std::string_view name) {
  if (name.empty()) return "empty user name";
  if (name.find(':') != std::string_view::npos) return "':' in the user name";
  for (char ch : name) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return "control character in the user name";
  }
  return std::nullopt;
}

LocalUsers::LocalUsers() {
  if (RAND_bytes(decoy_.native.data(), static_cast<int>(decoy_.native.size())) != 1 ||
      RAND_bytes(decoy_.sha2.data(), static_cast<int>(decoy_.sha2.size())) != 1)
    std::abort();
}

std::optional<std::string> LocalUsers::add(std::string_view name, std::string_view credential) {
  if (auto e = check_user_name(name)) return e;
  if (users_.count(std::string(name)) != 0) return "user '" + std::string(name) + "' given twice";
  LocalUserHashes h;
  if (credential.starts_with(kPlainPrefix)) {
    const std::string_view password = credential.substr(kPlainPrefix.size());
    if (password.empty()) return "empty password for user '" + std::string(name) + "'";
    if (password.find('\0') != std::string_view::npos)
      return "NUL byte in the password of user '" + std::string(name) + "'";
    h.native = protocol::native_password_hash(as_bytes(password));
    h.sha2 = protocol::sha2_password_hash(as_bytes(password));
  } else {
    const auto colon = credential.find(':');
    if (!credential.starts_with('*') || colon == std::string_view::npos ||
        !parse_hex(credential.substr(1, colon - 1), h.native) || !parse_hex(credential.substr(colon + 1), h.sha2))
      return "user '" + std::string(name) +
             "': expected *<40 hex>:<64 hex> (from camproxy hash-password) or plain:<password>";
  }
  users_.emplace(std::string(name), h);
  return std::nullopt;
}

std::optional<std::string> LocalUsers::add_text(std::string_view text, std::string_view source) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    const std::string where = std::string(source) + " line " + std::to_string(line_no) + ": ";
    if (colon == std::string_view::npos) return where + "expected name:credential";
    if (auto e = add(line.substr(0, colon), line.substr(colon + 1))) return where + *e;
  }
  return std::nullopt;
}

std::shared_ptr<const LocalUsers> LocalUsers::load(const LocalAuthConfig& config, std::string& error) {
  auto users = std::make_shared<LocalUsers>();
  if (!config.users_file.empty()) {
    const std::string source = "users file " + config.users_file;
    auto file = auth::read_small_file(config.users_file, auth::SmallFileRules{kMaxUsersFileBytes, true});
    if (!file) {
      switch (file.error()) {
        case auth::FileProblem::missing: error = source + ": no such file"; break;
        case auth::FileProblem::unreadable: error = source + ": cannot be read"; break;
        case auth::FileProblem::not_regular: error = source + ": not a regular file"; break;
        case auth::FileProblem::world_readable:
          error = source + ": readable by others; chmod o-rwx it (it holds password hashes)";
          break;
        case auth::FileProblem::too_large: error = source + ": larger than 1 MiB"; break;
      }
      return nullptr;
    }
    if (auto e = users->add_text(file->bytes.view(), source)) {
      error = *e;
      return nullptr;
    }
  }
  for (const auto& entry : config.users) {
    if (auto e = users->add(entry.name, entry.credential)) {
      error = "local user: " + *e;
      return nullptr;
    }
  }
  if (users->users_.empty()) {
    error = "local authentication is on but no user is configured";
    return nullptr;
  }
  return users;
}

bool LocalUsers::verify(std::string_view user, LocalAuthPlugin plugin, std::span<const uint8_t, 20> nonce,
                        std::span<const uint8_t> response) const {
  const auto it = users_.find(std::string(user));
  const bool known = it != users_.end();
  const LocalUserHashes& h = known ? it->second : decoy_;
  const bool match = plugin == LocalAuthPlugin::native_password ? protocol::native_verify(h.native, nonce, response)
                                                                : protocol::sha2_verify(h.sha2, nonce, response);
  return match && known;
}

std::string users_file_line(std::string_view name, std::span<const uint8_t> password) {
  return std::string(name) + ":*" + upper_hex(protocol::native_password_hash(password)) + ":" +
         upper_hex(protocol::sha2_password_hash(password));
}

}  // namespace camproxy::proxy
