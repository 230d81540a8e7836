#include "proxy/config/man_page.h"

#include "proxy/config/config.h"
#include "proxy/config/config_options.h"
#include "proxy/config/status_options.h"
#include "proxy/config/wait_options.h"
#include "proxy/ops/version.h"

namespace camproxy::proxy {
namespace {

std::string option_item(const OptionSpec& o) {
  const std::string flag = "\\-\\-" + roff_escape(o.flag);
  std::string out =
      o.value_name.empty() ? ".TP\n.B " + flag : ".TP\n.BI \"" + flag + " \" " + roff_escape(o.value_name);
  out += "\n" + roff_escape(o.help);
  if (!o.default_text.text.empty()) out += " Default: " + roff_escape(o.default_text.text) + ".";
  out += "\n.br\nEnvironment: \\fB" + roff_escape(env_name(o.flag)) + "\\fR.";
  if (!o.file_key.empty()) {
    std::string key(o.file_key);
    if (o.scope == OptionScope::target) key = "targets[N]." + key;
    if (o.scope == OptionScope::listener) key = "targets[N].listen[M]." + key;
    out += " Config file key: \\fB" + roff_escape(key) + "\\fR.";
  }
  return out + "\n";
}

constexpr const char* kHead =
    ".SH NAME\n"
    "camproxy \\- MySQL proxy logging in to TencentDB for MySQL with CAM tokens\n"
    ".SH SYNOPSIS\n"
    ".B camproxy\n"
    "\\-\\-upstream HOST:PORT \\-\\-region REGION \\-\\-instance\\-id ID [flags]\n"
    ".br\n.B camproxy\n\\-\\-config FILE [flags]\n"
    ".br\n.B camproxy\n\\-\\-check\\-config FILE [flags]\n"
    ".br\n.B camproxy wait\n[\\-\\-admin ADDR] [\\-\\-path PATH] [\\-\\-timeout DURATION]\n"
    ".br\n.B camproxy status\n[\\-\\-admin ADDR]\n"
    ".SH DESCRIPTION\n"
    "Applications connect to camproxy's \\-\\-listen addresses with any password (or one from\n"
    "\\-\\-users\\-file); camproxy logs in to the database with a CAM token it fetches and renews,\n"
    "and pools the database connections.\n"
    ".PP\n"
    "Every flag can also be set as CAMPROXY_<FLAG> (upper case, dashes as underscores); a flag on the\n"
    "command line wins; both win over \\-\\-config for a single target.\n"
    ".B \\-\\-check\\-config FILE\n"
    "validates FILE with the flags and environment, prints the targets it would run and exits 0, or\n"
    "prints the errors and exits 2.\n"
    ".SH OPTIONS\n";

constexpr const char* kHelpAndVersion =
    ".TP\n.B \\-\\-help\nThe flags, briefly.\n"
    ".TP\n.B \\-\\-version\nThe version.\n";

constexpr const char* kWait =
    ".SH CAMPROXY WAIT\n"
    ".B camproxy wait\n"
    "asks a running camproxy's admin endpoint for a path until it answers 200 (for probes and\n"
    "units that start after camproxy). Its flags:\n";

constexpr const char* kStatus =
    ".SH CAMPROXY STATUS\n"
    ".B camproxy status\n"
    "prints a running camproxy's targets, tokens, pools and sessions as tables, read from its\n"
    "admin endpoint; exit 1 when that does not answer. Its flags:\n";

constexpr const char* kTail =
    ".SH ENVIRONMENT\n"
    ".TP\n.B TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY\n"
    "The CAM key camproxy fetches tokens with (other sources: \\-\\-credential\\-source).\n"
    ".TP\n.B TENCENTCLOUD_SESSION_TOKEN\n"
    "With temporary credentials (alias TENCENTCLOUD_TOKEN).\n"
    ".TP\n.B NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID\n"
    "Set by systemd for a Type=notify unit: camproxy sends READY=1, STOPPING=1, STATUS= and WATCHDOG=1.\n"
    ".SH SIGNALS\n"
    "SIGTERM or SIGINT drains and exits 0; a second one exits at once. SIGHUP re-reads the \\-\\-config file.\n"
    ".SH FILES\n"
    ".TP\n.I /etc/camproxy/camproxy.yaml\nThe example configuration (a conffile).\n"
    ".TP\n.I /etc/camproxy/camproxy.env\nThe systemd unit's environment: CAMPROXY_* settings and the key.\n"
    ".TP\n.I /lib/systemd/system/camproxy.service\nThe systemd unit.\n"
    ".SH SEE ALSO\n"
    "docs/operations.md, docs/config.md and docs/flags.md in camproxy's source tree.\n";

}  // namespace

std::string roff_escape(std::string_view text) {
  std::string out;
  bool bold = false;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c == '`') {
      out += bold ? "\\fR" : "\\fB";
      bold = !bold;
    } else if ((c == '.' || c == '\'') && (out.empty() || out.back() == '\n')) {
      out += "\\&";
      out += c;
    } else {
      out += c;
    }
  }
  if (bold) out += "\\fR";
  return out;
}

std::string man_page() {
  std::string out = ".TH CAMPROXY 1 \"\" \"camproxy " + std::string(kVersion) + "\" \"User Commands\"\n";
  out += kHead;
  for (const auto& o : option_table()) out += option_item(o);
  out += kHelpAndVersion;
  out += kWait;
  WaitSettings scratch;
  for (const auto& o : wait_option_table(scratch)) out += option_item(o);
  out += kStatus;
  StatusSettings status_scratch;
  for (const auto& o : status_option_table(status_scratch)) out += option_item(o);
  return out + kTail;
}

}  // namespace camproxy::proxy
