#include "proxy/config/man_page.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "proxy/config/config_options.h"
#include "proxy/config/wait_options.h"

namespace camproxy::proxy {
namespace {

std::string roff_flag(std::string_view flag) { return roff_escape("--" + std::string(flag)); }

// An option's item: ".TP", then the flag in bold (and its value name in italics).
bool has_item(const std::string& page, std::string_view flag) {
  return page.find(".TP\n.B " + roff_flag(flag) + "\n") != std::string::npos ||
         page.find(".TP\n.BI \"" + roff_flag(flag) + " \" ") != std::string::npos;
}

TEST(ManPage, ListsEveryFlagOfBothOptionTablesWithItsEnvironmentVariable) {
  const std::string page = man_page();
  EXPECT_EQ(page.rfind(".TH CAMPROXY 1 ", 0), 0u);
  for (const auto& o : option_table()) {
    EXPECT_TRUE(has_item(page, o.flag)) << o.flag;
    EXPECT_NE(page.find(roff_escape(env_name(o.flag))), std::string::npos) << o.flag;
  }
  WaitSettings scratch;
  for (const auto& o : wait_option_table(scratch)) EXPECT_TRUE(has_item(page, o.flag)) << o.flag;
}

TEST(ManPage, EveryLineIsARequestOrTextThatCannotBeMistakenForOne) {
  const std::string page = man_page();
  size_t start = 0;
  while (start < page.size()) {
    const size_t end = page.find('\n', start);
    const std::string_view line(page.data() + start, end - start);
    if (line.starts_with("'")) ADD_FAILURE() << "control line: " << line;
    if (line.starts_with(".")) {
      const auto request = line.substr(1, line.find(' ') - 1);
      static const std::vector<std::string_view> kKnown = {"TH", "SH", "TP", "B", "BI", "I", "br", "PP"};
      EXPECT_NE(std::find(kKnown.begin(), kKnown.end(), request), kKnown.end()) << line;
    }
    start = end + 1;
  }
}

TEST(RoffEscape, DashesBackslashesLeadingDotsAndCode) {
  EXPECT_EQ(roff_escape("--listen"), "\\-\\-listen");
  EXPECT_EQ(roff_escape("a\\b"), "a\\eb");
  EXPECT_EQ(roff_escape(".hidden"), "\\&.hidden");
  EXPECT_EQ(roff_escape("x\n'quoted"), "x\n\\&'quoted");
  EXPECT_EQ(roff_escape("use `x` here"), "use \\fBx\\fR here");
  EXPECT_EQ(roff_escape("open `x"), "open \\fBx\\fR");
}

}  // namespace
}  // namespace camproxy::proxy
