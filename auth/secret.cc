#include "auth/secret.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

namespace camproxy::auth {

SecretString::SecretString(std::string_view bytes)
    : data_(bytes.empty() ? nullptr : std::make_unique<char[]>(bytes.size())),
      size_(bytes.size()),
      capacity_(bytes.size()) {
  std::copy(bytes.begin(), bytes.end(), data_.get());
}

SecretString SecretString::take(std::string& source) {
  SecretString secret(source);
  cleanse(source);
  return secret;
}

SecretString SecretString::zeroed(std::size_t n) {
  SecretString secret;
  if (n > 0) {
    secret.data_ = std::make_unique<char[]>(n);  // value-initialised: zeros
    secret.size_ = n;
    secret.capacity_ = n;
  }
  return secret;
}

SecretString::SecretString(SecretString&& other) noexcept
    : data_(std::move(other.data_)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretString::~SecretString() { clear(); }

std::span<const std::uint8_t> SecretString::bytes() const noexcept {
  return {reinterpret_cast<const std::uint8_t*>(data_.get()), size_};
}

std::span<std::uint8_t> SecretString::writable() noexcept {
  return {reinterpret_cast<std::uint8_t*>(data_.get()), size_};
}

void SecretString::truncate(std::size_t n) noexcept {
  if (n >= size_) return;
  OPENSSL_cleanse(data_.get() + n, size_ - n);
  size_ = n;
}

void SecretString::clear() noexcept {
  if (data_) OPENSSL_cleanse(data_.get(), capacity_);
  data_.reset();
  size_ = 0;
  capacity_ = 0;
}

void cleanse(std::string& s) noexcept {
  // Growing to capacity() never reallocates, and makes the spare bytes (which may
  // hold an earlier, longer value) part of the range we may legally write.
  s.resize(s.capacity());
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace camproxy::auth
