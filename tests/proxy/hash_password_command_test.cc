// `camproxy hash-password`: the line it prints is one the users file accepts for that password.
#include "proxy/hash_password_command.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace camproxy::proxy {
namespace {

struct Run {
  int status;
  std::string out, err;
};

Run run(std::vector<const char*> args, const std::string& input) {
  std::FILE* in = std::tmpfile();
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::fputs(input.c_str(), in);
  std::rewind(in);
  Run r{run_hash_password_command(static_cast<int>(args.size()), args.data(), in, out, err), {}, {}};
  for (auto [f, s] : {std::pair{out, &r.out}, std::pair{err, &r.err}}) {
    std::rewind(f);
    for (int ch = std::fgetc(f); ch != EOF; ch = std::fgetc(f)) s->push_back(static_cast<char>(ch));
    std::fclose(f);
  }
  std::fclose(in);
  return r;
}

TEST(HashPassword, PrintsTheHashesOfTheFirstLine) {
  // Python hashlib: sha1(sha1(b"secret-pw")), sha256(sha256(b"secret-pw")), upper-case hex.
  const std::string expected =
      "alice:*B87675491D86B74664F2EA1D3A7060E82A810802:"
      "4870A019BE3AF92239DC9807901128F58CC21D657B1528B1C1DC24CFEA3CE5A7\n";
  for (const char* input : {"secret-pw\n", "secret-pw", "secret-pw\r\nignored\n"}) {
    auto r = run({"alice"}, input);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected);
  }
}

TEST(HashPassword, BadUseExitsTwoWithoutOutput) {
  for (auto [args, input, why] : {std::tuple{std::vector<const char*>{}, "pw\n", "one user name"},
                                  std::tuple{std::vector<const char*>{"a", "b"}, "pw\n", "one user name"},
                                  std::tuple{std::vector<const char*>{"alice"}, "\n", "no password"},
                                  std::tuple{std::vector<const char*>{"alice"}, "", "no password"},
                                  std::tuple{std::vector<const char*>{"a:b"}, "pw\n", "':' in the user name"}}) {
    auto r = run(args, input);
    EXPECT_EQ(r.status, 2) << why;
    EXPECT_TRUE(r.out.empty()) << why;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace camproxy::proxy
