#pragma once
// `camproxy status`: a running camproxy's targets, tokens, pools and sessions as tables
// (status_report.h), read from its admin endpoint.
#include <cstdio>

namespace camproxy::proxy {

// argv after "status". Exit status: 0 printed, 1 the admin endpoint did not answer as
// expected (what failed goes to `err`), 2 on a bad flag.
int run_status_command(int argc, const char* const* argv, const char* (*getenv_fn)(const char*), std::FILE* out,
                       std::FILE* err);

}  // namespace camproxy::proxy
