#pragma once
// The credential settings of a configuration (source, profile file, metadata and STS endpoints,
// CA file) and the provider they make: once at start, and again when a reload changes them.
#include <memory>
#include <string>

#include "auth/credential_provider.h"
#include "proxy/config/config.h"

namespace camproxy::proxy {

auth::CredentialOptions credential_options(const Config& c);
bool same_credential_settings(const Config& a, const Config& b);
// The provider `c` asks for, or null with `error` saying why (the settings are unusable).
std::unique_ptr<auth::CredentialProvider> make_provider(const Config& c, std::string& error);

}  // namespace camproxy::proxy
