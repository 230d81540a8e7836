// SecretString: owned bytes of a secret (SecretKey, session token, CAM token,
// decoded password) that are wiped with OPENSSL_cleanse when dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace camproxy::auth {

// Move-only on purpose: every copy of a secret is one more buffer to wipe, so
// copies are explicit (copy()). There is deliberately no operator<<.
// The bytes live on the heap; a move hands the buffer over without copying it,
// so no stale copy is left behind in the moved-from object.
class SecretString {
 public:
  SecretString() noexcept = default;
  explicit SecretString(std::string_view bytes);
  // Takes the bytes of `source` and wipes all of source's buffer (incl. spare capacity).
  static SecretString take(std::string& source);
  // n zero bytes, to be filled in through writable() (e.g. decrypted output).
  static SecretString zeroed(std::size_t n);

  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString();

  SecretString copy() const { return SecretString(view()); }

  std::string_view view() const noexcept { return {data_.get(), size_}; }
  std::span<const std::uint8_t> bytes() const noexcept;
  std::span<std::uint8_t> writable() noexcept;
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Shrinks the visible size to n (<= size()); the cut-off tail is wiped at once.
  void truncate(std::size_t n) noexcept;
  // Wipes and frees the bytes; the string is empty afterwards.
  void clear() noexcept;

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // bytes allocated (what clear() wipes)
};

// Wipes a std::string's whole buffer (size and spare capacity) and empties it.
void cleanse(std::string& s) noexcept;

}  // namespace camproxy::auth
