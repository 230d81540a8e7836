#pragma once
// camproxy(1), the man page the Debian package installs, rendered in roff from the same option
// tables as --help and docs/flags.md (config_docs.cc), so the three never disagree.
#include <string>
#include <string_view>

namespace camproxy::proxy {

std::string man_page();

// Text as roff: backslashes and dashes escaped, a leading '.' or '\'' neutralised, `code`
// in bold (the help strings are written for Markdown).
std::string roff_escape(std::string_view text);

}  // namespace camproxy::proxy
