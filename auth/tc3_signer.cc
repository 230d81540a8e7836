#include "auth/tc3_signer.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include "auth/crypto.h"
#include "auth/secret.h"

namespace camproxy::auth {
namespace {

constexpr std::string_view kAlgorithm = "TC3-HMAC-SHA256";
constexpr std::string_view kTerminator = "tc3_request";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// §2.6: kDate = HMAC("TC3" + SecretKey, date); kService = HMAC(kDate, service);
// kSigning = HMAC(kService, "tc3_request"); each key is the previous raw output.
std::string signature_hex(std::string_view secret_key, std::string_view date, std::string_view service,
                          std::string_view string_to_sign) {
  std::string tc3_key = "TC3";
  tc3_key.append(secret_key);
  const auto key_bytes = std::span(reinterpret_cast<const std::uint8_t*>(tc3_key.data()), tc3_key.size());
  Sha256Digest k_date = hmac_sha256(key_bytes, date);
  cleanse(tc3_key);
  Sha256Digest k_service = hmac_sha256(k_date, service);
  Sha256Digest k_signing = hmac_sha256(k_service, kTerminator);
  const std::string hex = to_hex(hmac_sha256(k_signing, string_to_sign));
  OPENSSL_cleanse(k_date.data(), k_date.size());
  OPENSSL_cleanse(k_service.data(), k_service.size());
  OPENSSL_cleanse(k_signing.data(), k_signing.size());
  return hex;
}

}  // namespace

std::string utc_date(std::int64_t timestamp) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_seconds{seconds{timestamp}});
  const year_month_day ymd{day};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

Tc3Signature sign_tc3(const Tc3Input& input) { return sign_tc3(input, {}); }

Tc3Signature sign_tc3(const Tc3Input& input, std::span<const Tc3Header> extra) {
  // §2.3-2.4: header lines "name:value", names lower-case, sorted by name.
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("content-type", std::string(input.content_type));
  headers.emplace_back("host", std::string(input.host));
  for (const Tc3Header& h : extra) {
    std::string name = lower(trim(h.name));
    if (name == "content-type" || name == "host") continue;
    headers.emplace_back(std::move(name), lower(trim(h.value)));
  }
  std::sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  std::string canonical_headers;
  std::string signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers.append(name).append(":").append(value).append("\n");
    if (!signed_headers.empty()) signed_headers.append(";");
    signed_headers.append(name);
  }

  Tc3Signature out;
  out.date = utc_date(input.timestamp);
  out.canonical_request = "POST\n/\n\n" + canonical_headers + "\n" + signed_headers + "\n" + sha256_hex(input.body);

  const std::string scope = out.date + "/" + std::string(input.service) + "/" + std::string(kTerminator);
  out.string_to_sign = std::string(kAlgorithm) + "\n" + std::to_string(input.timestamp) + "\n" + scope + "\n" +
                       sha256_hex(out.canonical_request);
  out.signature = signature_hex(input.secret_key, out.date, input.service, out.string_to_sign);
  // §2.8: exactly one space after the algorithm, ", " between the parts.
  out.authorization = std::string(kAlgorithm) + " Credential=" + std::string(input.secret_id) + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;
  return out;
}

}  // namespace camproxy::auth
