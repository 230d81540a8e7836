#include "proxy/credential_settings.h"

#include <cstdlib>

namespace camproxy::proxy {

auth::CredentialOptions credential_options(const Config& c) {
  auth::CredentialOptions o;
  o.source = c.credential_source;
  o.profile_file = c.credentials_file;
  o.metadata_endpoint = c.metadata_endpoint;
  o.sts_endpoint = c.sts_endpoint;
  o.ca_file = c.cam_ca_file;
  return o;
}

bool same_credential_settings(const Config& a, const Config& b) {
  const auto x = credential_options(a);
  const auto y = credential_options(b);
  return x.source == y.source && x.profile_file == y.profile_file && x.metadata_endpoint == y.metadata_endpoint &&
         x.sts_endpoint == y.sts_endpoint && x.ca_file == y.ca_file;
}

std::unique_ptr<auth::CredentialProvider> make_provider(const Config& c, std::string& error) {
  auto provider = auth::make_credential_provider(credential_options(c),
                                                 [](const char* name) -> const char* { return std::getenv(name); });
  if (!provider) {
    error = provider.error().message;
    return nullptr;
  }
  return std::move(*provider);
}

}  // namespace camproxy::proxy
