// MySQL classic protocol constants (spec/mysql-protocol.md §2.2, §4.2, §4.3, appendix;
// values from mysql-server include/mysql_com.h and include/mysqld_error.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace camproxy::protocol {

// Capability flags (int<4> in HandshakeV10 / HandshakeResponse41). Bit, then origin.
namespace cap {
inline constexpr uint32_t kLongPassword = 1U << 0;  // 4.1; clear = MariaDB ext caps follow
inline constexpr uint32_t kFoundRows = 1U << 1;     // affected rows = found rows
inline constexpr uint32_t kLongFlag = 1U << 2;
inline constexpr uint32_t kConnectWithDb = 1U << 3;
inline constexpr uint32_t kNoSchema = 1U << 4;
inline constexpr uint32_t kCompress = 1U << 5;  // zlib compression
inline constexpr uint32_t kOdbc = 1U << 6;
inline constexpr uint32_t kLocalFiles = 1U << 7;  // LOAD DATA LOCAL
inline constexpr uint32_t kIgnoreSpace = 1U << 8;
inline constexpr uint32_t kProtocol41 = 1U << 9;
inline constexpr uint32_t kInteractive = 1U << 10;
inline constexpr uint32_t kSsl = 1U << 11;
inline constexpr uint32_t kIgnoreSigpipe = 1U << 12;  // client-only
inline constexpr uint32_t kTransactions = 1U << 13;
inline constexpr uint32_t kReserved = 1U << 14;
inline constexpr uint32_t kSecureConnection = 1U << 15;  // 20-byte scramble, int<1> auth len
inline constexpr uint32_t kMultiStatements = 1U << 16;
inline constexpr uint32_t kMultiResults = 1U << 17;
inline constexpr uint32_t kPsMultiResults = 1U << 18;
inline constexpr uint32_t kPluginAuth = 1U << 19;                  // 5.5.7
inline constexpr uint32_t kConnectAttrs = 1U << 20;                // 5.6.6
inline constexpr uint32_t kPluginAuthLenencClientData = 1U << 21;  // 5.6.6
inline constexpr uint32_t kCanHandleExpiredPasswords = 1U << 22;   // 5.6.10
inline constexpr uint32_t kSessionTrack = 1U << 23;                // 5.7; MariaDB 10.2
inline constexpr uint32_t kDeprecateEof = 1U << 24;                // 5.7.5; MariaDB 10.2
inline constexpr uint32_t kOptionalResultsetMetadata = 1U << 25;   // 8.0.3
inline constexpr uint32_t kZstdCompression = 1U << 26;             // 8.0.18
inline constexpr uint32_t kQueryAttributes = 1U << 27;             // 8.0.23
inline constexpr uint32_t kMultiFactorAuth = 1U << 28;             // 8.0.27
inline constexpr uint32_t kCapabilityExtension = 1U << 29;
inline constexpr uint32_t kSslVerifyServerCert = 1U << 30;  // client-only
inline constexpr uint32_t kRememberOptions = 1U << 31;      // client-only

// spec §2.2: phase-1 set advertised to apps (add kSsl with a certificate, kLocalFiles by policy).
// IGNORE_SPACE as MariaDB and MySQL advertise it: the pool's fix-up gives the session the sql_mode.
inline constexpr uint32_t kProxyServerDefault =
    kLongPassword | kFoundRows | kLongFlag | kConnectWithDb | kProtocol41 | kInteractive | kTransactions |
    kSecureConnection | kMultiStatements | kMultiResults | kPsMultiResults | kPluginAuth | kConnectAttrs |
    kPluginAuthLenencClientData | kSessionTrack | kDeprecateEof | kIgnoreSpace;
static_assert(kProxyServerDefault == 0x01BFA70FU);

// spec §5.4: bits that must be equal on both hops (an upstream serves a client only if equal).
inline constexpr uint32_t kPoolKey =
    kFoundRows | kMultiResults | kPsMultiResults | kLocalFiles | kDeprecateEof | kSessionTrack;
// spec §2.2 / §5.4: never advertised nor requested (they change wire layouts or semantics).
inline constexpr uint32_t kNever = kCompress | kZstdCompression | kQueryAttributes | kOptionalResultsetMetadata |
                                   kCanHandleExpiredPasswords | kMultiFactorAuth | kCapabilityExtension | kNoSchema;
}  // namespace cap

// MariaDB extended capabilities (the int<4> in the reserved bytes when kLongPassword is clear),
// stored as the high 32 bits shifted down (spec §3.1).
namespace mariadb_cap {
inline constexpr uint32_t kProgress = 1U << 0;            // 1 << 32
inline constexpr uint32_t kComMulti = 1U << 1;            // 1 << 33
inline constexpr uint32_t kStmtBulkOperations = 1U << 2;  // 1 << 34
inline constexpr uint32_t kExtendedMetadata = 1U << 3;    // 1 << 35
inline constexpr uint32_t kCacheMetadata = 1U << 4;       // 1 << 36
inline constexpr uint32_t kBulkUnitResults = 1U << 5;     // 1 << 37

// What camproxy offers applications and asks the database for, when the database offers it
// (docs/capabilities.md). Each bit changes what the relay sees, so each is here only because
// the response tracker follows its layout (response_tracker.h):
//   kProgress            ERR packets with code 0xFFFF in the middle of a response are progress
//                        reports, not its end.
//   kStmtBulkOperations  COM_STMT_BULK_EXECUTE (0xFA): answered like COM_STMT_EXECUTE (OK, ERR
//                        or a result set for RETURNING).
//   kExtendedMetadata    one more str<lenenc> in each column definition, which camproxy never
//                        parses (the tracker and its own queries skip definitions unread).
//   kCacheMetadata       int<1> metadata_follows after the column count; 0: no definitions.
// Never (like cap::kNever):
//   kComMulti            COM_MULTI, removed in MariaDB 10.6: one command carrying several, whose
//                        replies the tracker cannot match to commands.
//   kBulkUnitResults     MariaDB 11.5+: per-row results of a bulk command in a result set no
//                        server camproxy is tested against sends; not offered until one is.
inline constexpr uint32_t kRelayable = kProgress | kStmtBulkOperations | kExtendedMetadata | kCacheMetadata;
inline constexpr uint32_t kNever = kComMulti | kBulkUnitResults;
static_assert((kRelayable & kNever) == 0);
}  // namespace mariadb_cap

// Server status flags (int<2> in OK/EOF and the greeting), spec §4.2.
namespace status {
inline constexpr uint16_t kInTrans = 0x0001;
inline constexpr uint16_t kAutocommit = 0x0002;
inline constexpr uint16_t kMoreResultsExists = 0x0008;
inline constexpr uint16_t kNoGoodIndexUsed = 0x0010;
inline constexpr uint16_t kNoIndexUsed = 0x0020;
inline constexpr uint16_t kCursorExists = 0x0040;
inline constexpr uint16_t kLastRowSent = 0x0080;
inline constexpr uint16_t kDbDropped = 0x0100;
inline constexpr uint16_t kNoBackslashEscapes = 0x0200;
inline constexpr uint16_t kMetadataChanged = 0x0400;
inline constexpr uint16_t kQueryWasSlow = 0x0800;
inline constexpr uint16_t kPsOutParams = 0x1000;
inline constexpr uint16_t kInTransReadonly = 0x2000;
inline constexpr uint16_t kSessionStateChanged = 0x4000;
inline constexpr uint16_t kAnsiQuotes = 0x8000;  // MariaDB: sql_mode has ANSI_QUOTES
// The flags that describe the session rather than the last statement (the rest, and
// kSessionStateChanged, say what one statement did): those a login's OK carries.
inline constexpr uint16_t kSessionFlags = kInTrans | kAutocommit | kNoBackslashEscapes | kInTransReadonly | kAnsiQuotes;
}  // namespace status

// Command bytes, the first payload byte of a client command (spec §4.3).
enum class Command : uint8_t {
  sleep = 0x00,
  quit = 0x01,
  init_db = 0x02,
  query = 0x03,
  field_list = 0x04,
  create_db = 0x05,
  drop_db = 0x06,
  refresh = 0x07,
  shutdown = 0x08,
  statistics = 0x09,
  process_info = 0x0A,
  connect = 0x0B,
  process_kill = 0x0C,
  debug = 0x0D,
  ping = 0x0E,
  time = 0x0F,
  delayed_insert = 0x10,
  change_user = 0x11,
  binlog_dump = 0x12,
  table_dump = 0x13,
  connect_out = 0x14,
  register_slave = 0x15,
  stmt_prepare = 0x16,
  stmt_execute = 0x17,
  stmt_send_long_data = 0x18,
  stmt_close = 0x19,
  stmt_reset = 0x1A,
  set_option = 0x1B,
  stmt_fetch = 0x1C,
  daemon = 0x1D,
  binlog_dump_gtid = 0x1E,
  reset_connection = 0x1F,
  clone = 0x20,
  subscribe_group_replication_stream = 0x21,
  mariadb_stmt_bulk_execute = 0xFA,
};

// spec §2.4: the most a peer may send in one packet before it has logged in (the handshake
// fields plus connection attributes): nobody makes camproxy buffer megabytes before a login.
inline constexpr size_t kMaxLoginPacket = 16 * 1024;

// First payload byte of server packets (spec appendix).
inline constexpr uint8_t kOkHeader = 0x00;
inline constexpr uint8_t kAuthMoreDataHeader = 0x01;
inline constexpr uint8_t kLocalInfileHeader = 0xFB;
inline constexpr uint8_t kEofHeader = 0xFE;  // also AuthSwitchRequest, FE-OK terminator
inline constexpr uint8_t kAuthSwitchHeader = 0xFE;
inline constexpr uint8_t kErrHeader = 0xFF;
inline constexpr uint8_t kProtocolVersion10 = 10;

// caching_sha2_password exchange bytes (spec §3.3, appendix).
inline constexpr uint8_t kSha2RequestPublicKey = 0x02;
inline constexpr uint8_t kSha2FastAuthSuccess = 0x03;
inline constexpr uint8_t kSha2PerformFullAuth = 0x04;
// sha256_password asks for the key with 01, not 02 (spec §3.3).
inline constexpr uint8_t kSha256RequestPublicKey = 0x01;

// Collations the proxy names (spec §3.2).
inline constexpr uint8_t kCollationUtf8mb4GeneralCi = 45;
inline constexpr uint8_t kCollationUtf8mb40900AiCi = 255;

// Server error codes (mysqld_error.h) and SQLSTATEs used by a proxy (spec §3.4, §7, appendix).
inline constexpr uint16_t kErConCount = 1040;                  // 08004 Too many connections
inline constexpr uint16_t kErHandshake = 1043;                 // 08S01 Bad handshake
inline constexpr uint16_t kErDbAccessDenied = 1044;            // 42000
inline constexpr uint16_t kErAccessDenied = 1045;              // 28000
inline constexpr uint16_t kErNoDb = 1046;                      // 3D000
inline constexpr uint16_t kErUnknownCom = 1047;                // 08S01 Unknown command
inline constexpr uint16_t kErBadDb = 1049;                     // 42000
inline constexpr uint16_t kErServerShutdown = 1053;            // 08S01
inline constexpr uint16_t kErNoSuchThread = 1094;              // HY000 Unknown thread id
inline constexpr uint16_t kErKillDenied = 1095;                // HY000
inline constexpr uint16_t kErHostIsBlocked = 1129;             // HY000
inline constexpr uint16_t kErNetPacketTooLarge = 1153;         // 08S01
inline constexpr uint16_t kErNetReadError = 1158;              // 08S01
inline constexpr uint16_t kErTooManyUserConnections = 1203;    // 42000
inline constexpr uint16_t kErUserLimitReached = 1226;          // 42000
inline constexpr uint16_t kErNotSupportedAuthMode = 1251;      // 08004
inline constexpr uint16_t kErSpBadSelect = 1312;               // 0A000
inline constexpr uint16_t kErQueryInterrupted = 1317;          // 70100
inline constexpr uint16_t kErMustChangePassword = 1820;        // HY000
inline constexpr uint16_t kErMustChangePasswordLogin = 1862;   // HY000
inline constexpr uint16_t kErConnectionKilled = 1927;          // 70100 (MariaDB)
inline constexpr uint16_t kErAccountHasBeenLocked = 3118;      // HY000
inline constexpr uint16_t kErSecureTransportRequired = 3159;   // HY000
inline constexpr uint16_t kErClientInteractionTimeout = 4031;  // HY000 (MySQL 8.0.24+)
// MariaDB sends ERR with this code as a progress report (only with mariadb_cap::kProgress).
inline constexpr uint16_t kErMariaDbProgressReport = 0xFFFF;

// Client-library codes (errmsg.h); MySQL Router also puts them in ERR packets (spec §7.1).
inline constexpr uint16_t kCrConnectionError = 2003;
inline constexpr uint16_t kCrServerGoneError = 2006;
inline constexpr uint16_t kCrServerLost = 2013;
inline constexpr uint16_t kCrSslConnectionError = 2026;
inline constexpr uint16_t kCrAuthPluginCannotLoad = 2059;
inline constexpr uint16_t kCrAuthPluginErr = 2061;

}  // namespace camproxy::protocol
