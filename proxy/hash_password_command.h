#pragma once
// `camproxy hash-password NAME`: reads a password on stdin (one line) and prints the
// --users-file line for NAME with its hashes (local_users.h), so the file need not hold the
// password itself. Nothing but the hashes reaches stdout; the password is wiped.
#include <cstdio>

namespace camproxy::proxy {

// argv after "hash-password". Exit status: 0 with the line printed, 2 on bad use or input.
int run_hash_password_command(int argc, const char* const* argv, std::FILE* in, std::FILE* out, std::FILE* err);

}  // namespace camproxy::proxy
