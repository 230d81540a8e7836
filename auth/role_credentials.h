// The two answers that carry temporary credentials (spec/tencentcloud-cam.md §7.3, §7.4): the
// CVM metadata service's role credentials and STS AssumeRoleWithWebIdentity. Parsers only, no
// I/O, so that the fuzz targets reach them (tests/fuzz/role_answer_fuzz.cc).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "auth/credential_provider.h"

namespace camproxy::auth {

// §7.3: {"TmpSecretId","TmpSecretKey","ExpiredTime","Expiration","Token","Code"}.
// `context` starts every error message (where the answer came from).
CredentialResult<CredentialSnapshot> parse_metadata_role_answer(std::string_view body, std::string_view role,
                                                                const std::string& context, SystemTime fetched_at,
                                                                std::chrono::seconds refresh_margin);

// §7.4: {"Response":{"Credentials":{"Token","TmpSecretId","TmpSecretKey"},"ExpiredTime",
// "Expiration","RequestId"}} or the API 3.0 error envelope.
CredentialResult<CredentialSnapshot> parse_sts_answer(std::string_view body, std::string_view role_arn,
                                                      const std::string& context, SystemTime fetched_at,
                                                      std::chrono::seconds refresh_margin);

}  // namespace camproxy::auth
