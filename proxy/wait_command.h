#pragma once
// `camproxy wait`: blocks until a running camproxy answers 200 on an admin path, for
// applications (and Kubernetes exec probes, systemd ExecStartPost) that must start after it.
namespace camproxy::proxy {

// argv after "wait". Exit status: 0 when ready, 1 on timeout, 2 on a bad flag.
int run_wait_command(int argc, const char* const* argv, const char* (*getenv_fn)(const char*));

}  // namespace camproxy::proxy
