// ConnectionPrep without a loop: the steps it asks for and the outcome of the answers fed back,
// for each of its purposes.
#include "proxy/pool/connection_prep.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/constants.h"

namespace camproxy::proxy {
namespace {

using Prep = ConnectionPrep;
using Kind = Prep::Step::Kind;
using FailKind = Prep::Failure::Kind;
using Clock = std::chrono::steady_clock;
namespace status = protocol::status;

constexpr uint8_t kUtf8mb4 = 45;
constexpr uint8_t kLatin1 = 8;
constexpr std::string_view kSetUtf8mb4 = "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'";

// One word per command, to compare pipelines at a glance.
std::vector<std::string> describe(const std::vector<InternalCommand>& cmds) {
  std::vector<std::string> out;
  for (const auto& c : cmds) {
    const std::string arg(c.payload.begin() + 1, c.payload.end());
    switch (static_cast<protocol::Command>(c.payload.at(0))) {
      case protocol::Command::reset_connection: out.push_back("reset"); break;
      case protocol::Command::init_db: out.push_back("use " + arg); break;
      case protocol::Command::set_option: out.push_back(arg.at(0) == 0 ? "multi on" : "multi off"); break;
      case protocol::Command::query:
        out.push_back(arg.starts_with("SELECT DATABASE()") ? "look" : arg);
        EXPECT_EQ(c.wants_value, arg.starts_with("SELECT")) << arg;
        break;
      default: out.push_back("?");
    }
  }
  return out;
}

InternalResult ok(uint16_t flags = status::kAutocommit) {
  InternalResult r;
  r.ok = true;
  r.status_flags = flags;
  return r;
}
InternalResult err(uint16_t code, std::string message = "refused") {
  InternalResult r;
  r.code = code;
  r.sql_state = "42000";
  r.message = std::move(message);
  return r;
}
InternalResult look(std::optional<std::string> schema, bool ignore_space,
                    std::string collation = "utf8mb4_general_ci") {
  InternalResult r = ok();
  r.row = {std::move(schema), "28800", ignore_space ? "1" : "0", std::move(collation)};
  return r;
}

class ConnectionPrepTest : public ::testing::Test {
 protected:
  void SetUp() override { names_.learn("45:utf8mb4:utf8mb4_general_ci,8:latin1:latin1_swedish_ci"); }

  // A connection the pool has looked at recently, after a reset known to give back the login
  // collation: nothing about it is in doubt.
  Prep::Have settled() const {
    Prep::Have h;
    h.profile = {.schema = "app", .collation = kUtf8mb4, .multi_statements = false, .ignore_space = false};
    h.login_collation = kUtf8mb4;
    h.last_look = SessionLook{false, now_ - std::chrono::seconds(5)};
    h.reset_collation = ResetCollation::restored;
    return h;
  }
  // A return's want: the next client's collation, MULTI_STATEMENTS as the client left it.
  static Prep::Want next_client(uint8_t collation, bool multi = false) {
    Prep::Want w;
    w.profile = {.schema = std::nullopt, .collation = collation, .multi_statements = multi, .ignore_space = false};
    return w;
  }
  Prep make(Prep::Purpose p, Prep::Have h, Prep::Want w) const {
    return Prep(p, std::move(h), std::move(w), names_, now_);
  }

  CollationNames names_;
  Clock::time_point now_ = Clock::now();
};

TEST_F(ConnectionPrepTest, ReturnWithNothingInDoubtIsOneReset) {
  Prep prep = make(Prep::Purpose::return_to_pool, settled(), next_client(kUtf8mb4));
  Prep::Step s = prep.start();
  ASSERT_EQ(s.kind, Kind::run_commands);
  EXPECT_EQ(describe(s.commands), std::vector<std::string>{"reset"});
  EXPECT_EQ(prep.state(), Prep::State::resetting);
  s = prep.on_commands_done({ok()});
  ASSERT_EQ(s.kind, Kind::done);
  EXPECT_EQ(prep.cleanup(), PoolCleanup::reset);
  EXPECT_EQ(prep.profile().schema, "app");        // a reset keeps it
  EXPECT_EQ(prep.profile().collation, kUtf8mb4);  // and gives the login collation back
  EXPECT_EQ(prep.status_flags(), status::kAutocommit);
  EXPECT_FALSE(prep.look());
}

// MariaDB 10.11 keeps a role set with SET ROLE across COM_RESET_CONNECTION: when the client
// may have set one, the reset is followed by SET ROLE NONE in the same write, and a refusal
// means the connection is not clean.
TEST_F(ConnectionPrepTest, ReturnEndsARoleTheClientMayHaveSet) {
  Prep::Have h = settled();
  h.role_may_be_set = true;
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4));
  Prep::Step s = prep.start();
  ASSERT_EQ(s.kind, Kind::run_commands);
  EXPECT_EQ(describe(s.commands), (std::vector<std::string>{"reset", "SET ROLE NONE"}));
  EXPECT_EQ(prep.on_commands_done({ok(), ok()}).kind, Kind::done);

  Prep refused = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4));
  refused.start();
  ASSERT_EQ(refused.on_commands_done({ok(), err(1959, "Invalid role specification")}).kind, Kind::failed);
  EXPECT_EQ(refused.failure().kind, FailKind::command_failed);

  Prep client_change_user = make(Prep::Purpose::change_user, h, next_client(kUtf8mb4));
  EXPECT_EQ(describe(client_change_user.start().commands), (std::vector<std::string>{"reset", "SET ROLE NONE"}));
}

TEST_F(ConnectionPrepTest, ReturnLooksWhenInDoubt) {
  struct Case {
    const char* why;
    void (*spoil)(Prep::Have&);
  };
  const Case cases[] = {
      {"schema unknown", [](Prep::Have& h) { h.schema_known = false; }},
      {"reset collation unknown", [](Prep::Have& h) { h.reset_collation = ResetCollation::unknown; }},
      {"never looked", [](Prep::Have& h) { h.last_look.reset(); }},
      {"look too old", [](Prep::Have& h) { h.last_look->at -= std::chrono::minutes(2); }},
  };
  for (const auto& c : cases) {
    Prep::Have h = settled();
    c.spoil(h);
    Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4));
    Prep::Step s = prep.start();
    ASSERT_EQ(s.kind, Kind::run_commands) << c.why;
    const std::vector<std::string> sent = describe(s.commands);
    ASSERT_GE(sent.size(), 2u) << c.why;  // SET NAMES follows while the reset's collation is unknown
    EXPECT_EQ(std::vector<std::string>(sent.begin(), sent.begin() + 2), (std::vector<std::string>{"reset", "look"}))
        << c.why;
    std::vector<InternalResult> results(s.commands.size(), ok());
    results[1] = look("other", true);
    ASSERT_EQ(prep.on_commands_done(results).kind, Kind::done) << c.why;
    EXPECT_EQ(prep.profile().schema, "other") << c.why;  // what the look saw
    EXPECT_TRUE(prep.profile().ignore_space) << c.why;
    ASSERT_TRUE(prep.last_look()) << c.why;
    EXPECT_EQ(prep.last_look()->at, now_) << c.why;
    ASSERT_TRUE(prep.look()) << c.why;
    EXPECT_EQ(prep.look()->column(1), "28800") << c.why;
  }
}

TEST_F(ConnectionPrepTest, ReturnSetsTheNextCollationUnlessTheResetGivesItBack) {
  Prep::Have h = settled();
  h.login_collation = kLatin1;  // the reset gives latin1 back; the next client speaks utf8mb4
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4));
  Prep::Step s = prep.start();
  EXPECT_EQ(describe(s.commands), (std::vector<std::string>{"reset", std::string(kSetUtf8mb4)}));
  ASSERT_EQ(prep.on_commands_done({ok(), ok()}).kind, Kind::done);
  EXPECT_EQ(prep.profile().collation, kUtf8mb4);
}

TEST_F(ConnectionPrepTest, ReturnSurvivesAFailedSetNamesWithTheCollationUnknown) {
  Prep::Have h = settled();
  h.login_collation = kLatin1;
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4));
  prep.start();
  ASSERT_EQ(prep.on_commands_done({ok(), err(1273, "unknown collation")}).kind, Kind::done);
  EXPECT_EQ(prep.profile().collation, 0);
}

// Issue 16: a client takes a returning connection while its reset runs (hand_over), when the
// outcome is known before the replies: then it must be exactly that, and nothing falls back.
TEST_F(ConnectionPrepTest, HandOverOnlyWhatIsPromisedAndFailOnAnythingElse) {
  const SessionProfile promised = {
      .schema = "app", .collation = kLatin1, .multi_statements = false, .ignore_space = false};
  Prep::Have h = settled();
  h.login_collation = kLatin1;
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kLatin1));
  EXPECT_FALSE(prep.hand_over(promised)) << "nothing sent yet";
  prep.start();
  SessionProfile other_schema = promised;
  other_schema.schema = "shop";
  EXPECT_FALSE(prep.hand_over(other_schema));
  EXPECT_EQ(prep.purpose(), Prep::Purpose::return_to_pool);
  ASSERT_TRUE(prep.hand_over(promised));
  EXPECT_EQ(prep.purpose(), Prep::Purpose::handover);
  ASSERT_EQ(prep.on_commands_done({ok()}).kind, Kind::done);
  EXPECT_EQ(prep.profile(), promised);

  // In doubt about the schema, or never looked at (IGNORE_SPACE unknown): not handed over.
  for (auto spoil : {+[](Prep::Have& d) { d.schema_known = false; }, +[](Prep::Have& d) { d.last_look.reset(); }}) {
    Prep::Have doubt = h;
    spoil(doubt);
    Prep p = make(Prep::Purpose::return_to_pool, doubt, next_client(kLatin1));
    p.start();
    EXPECT_FALSE(p.hand_over(promised));
  }

  // A refused reset fails (the client's commands are behind it: no CHANGE_USER fallback), as
  // do a failed SET NAMES and a look that sees another schema than promised.
  Prep refused = make(Prep::Purpose::return_to_pool, h, next_client(kLatin1));
  refused.start();
  ASSERT_TRUE(refused.hand_over(promised));
  EXPECT_EQ(refused.on_commands_done({err(1047, "Unknown command")}).kind, Kind::failed);

  Prep::Have unknown_reset = h;
  unknown_reset.reset_collation = ResetCollation::unknown;  // the pipeline looks, then SET NAMES
  const auto failing = [&](std::vector<InternalResult> results) {
    Prep p = make(Prep::Purpose::return_to_pool, unknown_reset, next_client(kLatin1));
    EXPECT_EQ(describe(p.start().commands).size(), 3u);
    EXPECT_TRUE(p.hand_over(promised));
    return p.on_commands_done(results).kind;
  };
  EXPECT_EQ(failing({ok(), look("app", false), ok()}), Kind::done);
  EXPECT_EQ(failing({ok(), look("shop", false), ok()}), Kind::failed);
  EXPECT_EQ(failing({ok(), look("app", false), err(1273, "unknown collation")}), Kind::failed);
}

TEST_F(ConnectionPrepTest, ResetRefusedFallsBackToChangeUserThenRestores) {
  Prep::Have h = settled();
  h.profile.multi_statements = true;  // the client left it on: a reset keeps it, CHANGE_USER may not
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4, true));
  prep.start();
  Prep::Step s = prep.on_commands_done({err(1047, "unknown command")});
  ASSERT_EQ(s.kind, Kind::change_user);
  ASSERT_TRUE(s.refused_reset);  // for the pool to remember
  EXPECT_EQ(s.refused_reset->code, 1047);
  EXPECT_EQ(prep.state(), Prep::State::changing_user);
  EXPECT_EQ(prep.cleanup(), PoolCleanup::change_user);
  prep.change_user_sent(7);
  s = prep.on_ready();
  ASSERT_EQ(s.kind, Kind::run_commands);
  // CHANGE_USER dropped the schema and the character set; MULTI_STATEMENTS is said again.
  EXPECT_EQ(describe(s.commands), (std::vector<std::string>{"look", std::string(kSetUtf8mb4), "multi on"}));
  EXPECT_FALSE(s.refused_reset);
  ASSERT_EQ(prep.on_commands_done({look(std::nullopt, false), ok(), ok()}).kind, Kind::done);
  EXPECT_EQ(
      prep.profile(),
      (SessionProfile{.schema = std::nullopt, .collation = kUtf8mb4, .multi_statements = true, .ignore_space = false}));
}

TEST_F(ConnectionPrepTest, KnownRefusalGoesStraightToChangeUser) {
  Prep::Have h = settled();
  h.reset_refused = true;
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(0));
  const Prep::Step s = prep.start();
  EXPECT_EQ(s.kind, Kind::change_user);
  EXPECT_FALSE(s.refused_reset);
}

TEST_F(ConnectionPrepTest, ChangeUser1045AsksForTheTokenToBeRefetched) {
  Prep::Have h = settled();
  h.reset_refused = true;
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(0));
  prep.start();
  prep.change_user_sent(42);
  ASSERT_EQ(prep.on_failed({UpstreamFailure::Kind::server_error, 1045, "28000", "Access denied"}).kind, Kind::failed);
  EXPECT_EQ(prep.failure().kind, FailKind::token_rejected);
  EXPECT_EQ(prep.token_generation(), 42u);
}

TEST_F(ConnectionPrepTest, ChangeUserOtherFailuresAndNoToken) {
  Prep::Have h = settled();
  h.reset_refused = true;
  Prep failed = make(Prep::Purpose::return_to_pool, h, next_client(0));
  failed.start();
  failed.on_failed({UpstreamFailure::Kind::timeout, 0, "", "timed out"});
  EXPECT_EQ(failed.failure().kind, FailKind::change_user_failed);
  Prep tokenless = make(Prep::Purpose::return_to_pool, h, next_client(0));
  tokenless.start();
  ASSERT_EQ(tokenless.no_token().kind, Kind::failed);
  EXPECT_EQ(tokenless.failure().kind, FailKind::no_token);
}

TEST_F(ConnectionPrepTest, ReturnFailsOnAFailedRestoreCommand) {
  Prep::Have h = settled();
  h.profile.multi_statements = true;
  Prep prep = make(Prep::Purpose::return_to_pool, h, next_client(kUtf8mb4, true));
  prep.start();
  prep.on_commands_done({err(1047)});
  prep.change_user_sent(1);
  prep.on_ready();
  ASSERT_EQ(prep.on_commands_done({look(std::nullopt, false), ok(), err(1064, "no")}).kind, Kind::failed);
  EXPECT_EQ(prep.failure().kind, FailKind::command_failed);
  EXPECT_EQ(prep.failure().code, 1064);
}

TEST_F(ConnectionPrepTest, ReturnFailsWithATransactionOpenOrRepliesMissing) {
  Prep open = make(Prep::Purpose::return_to_pool, settled(), next_client(kUtf8mb4));
  open.start();
  ASSERT_EQ(open.on_commands_done({ok(status::kAutocommit | status::kInTrans)}).kind, Kind::failed);
  EXPECT_EQ(open.failure().kind, FailKind::in_transaction);
  Prep short_answer = make(Prep::Purpose::return_to_pool, settled(), next_client(kLatin1));
  short_answer.start();
  ASSERT_EQ(short_answer.on_commands_done({ok()}).kind, Kind::failed);
  EXPECT_EQ(short_answer.failure().kind, FailKind::incomplete);
}

TEST_F(ConnectionPrepTest, ConnectionLostWhileResetting) {
  Prep prep = make(Prep::Purpose::return_to_pool, settled(), next_client(kUtf8mb4));
  prep.start();
  ASSERT_EQ(prep.on_failed({UpstreamFailure::Kind::closed, 0, "", "eof"}).kind, Kind::failed);
  EXPECT_EQ(prep.failure().kind, FailKind::lost);
}

// A checkout: the idle connection's profile to the client's.
TEST_F(ConnectionPrepTest, CheckoutFixesUpEverythingInOnePipeline) {
  Prep::Have h;
  h.profile = {.schema = "app", .collation = kLatin1, .multi_statements = false, .ignore_space = false};
  Prep::Want w;
  w.profile = {.schema = "shop", .collation = kUtf8mb4, .multi_statements = true, .ignore_space = true};
  Prep prep = make(Prep::Purpose::checkout, h, w);
  Prep::Step s = prep.start();
  ASSERT_EQ(s.kind, Kind::run_commands);
  EXPECT_EQ(describe(s.commands),
            (std::vector<std::string>{"use shop", std::string(kSetUtf8mb4), "multi on",
                                      "SET SESSION sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')"}));
  EXPECT_EQ(prep.state(), Prep::State::fixing_up);
  EXPECT_FALSE(prep.cleanup());
  ASSERT_EQ(prep.on_commands_done({ok(), ok(), ok(), ok(status::kAutocommit | status::kInTrans)}).kind, Kind::done);
  EXPECT_EQ(prep.profile(), w.profile);
  EXPECT_EQ(prep.status_flags(), status::kAutocommit | status::kInTrans);  // no cleanup: not checked
}

TEST_F(ConnectionPrepTest, CheckoutWithNothingToDoIsDoneAtOnce) {
  Prep::Have h;
  h.profile = {.schema = "app", .collation = kUtf8mb4, .multi_statements = false, .ignore_space = false};
  Prep::Want w;
  w.profile = h.profile;
  Prep prep = make(Prep::Purpose::checkout, h, w);
  EXPECT_EQ(prep.start().kind, Kind::done);
  EXPECT_FALSE(prep.status_flags());
}

TEST_F(ConnectionPrepTest, CheckoutSchemaErrorIsTheClients) {
  Prep::Have h;
  Prep::Want w;
  w.profile.schema = "nope";
  Prep prep = make(Prep::Purpose::checkout, h, w);
  prep.start();
  ASSERT_EQ(prep.on_commands_done({err(1049, "Unknown database 'nope'")}).kind, Kind::failed);
  EXPECT_EQ(prep.failure().kind, FailKind::schema_refused);
  EXPECT_EQ(prep.failure().code, 1049);
  EXPECT_EQ(prep.failure().message, "Unknown database 'nope'");
}

TEST_F(ConnectionPrepTest, CheckoutToleratesFailedOptionsAndSaysWhatItHas) {
  Prep::Have h;
  h.profile.collation = kLatin1;
  Prep::Want w;
  w.profile = {.schema = std::nullopt, .collation = kUtf8mb4, .multi_statements = true, .ignore_space = true};
  Prep prep = make(Prep::Purpose::checkout, h, w);
  prep.start();
  ASSERT_EQ(prep.on_commands_done({err(1273), err(1064), err(1231)}).kind, Kind::done);
  EXPECT_EQ(prep.profile(),
            (SessionProfile{.schema = std::nullopt, .collation = 0, .multi_statements = false, .ignore_space = false}));
}

// A client's COM_CHANGE_USER: clean, then fix up to the client's new profile.
TEST_F(ConnectionPrepTest, ClientChangeUserResetsAndFixesUpInOneWrite) {
  Prep::Have h = settled();
  h.reset_collation = ResetCollation::unknown;  // no look for a session: SET NAMES is sent
  Prep::Want w;
  w.profile = {.schema = "shop", .collation = kUtf8mb4, .multi_statements = false, .ignore_space = false};
  Prep prep = make(Prep::Purpose::change_user, h, w);
  Prep::Step s = prep.start();
  EXPECT_EQ(describe(s.commands), (std::vector<std::string>{"reset", "use shop", std::string(kSetUtf8mb4)}));
  ASSERT_EQ(prep.on_commands_done({ok(), err(1049, "Unknown database 'shop'"), ok()}).kind, Kind::failed);
  EXPECT_EQ(prep.failure().kind, FailKind::schema_refused);
}

TEST_F(ConnectionPrepTest, ClientChangeUserAfterARefusedResetRestoresTheSchema) {
  Prep::Have h = settled();
  h.reset_refused = true;
  Prep::Want w;
  w.profile = {.schema = "app", .collation = 0, .multi_statements = false, .ignore_space = false};
  Prep prep = make(Prep::Purpose::change_user, h, w);
  ASSERT_EQ(prep.start().kind, Kind::change_user);
  prep.change_user_sent(3);
  const Prep::Step s = prep.on_ready();
  EXPECT_EQ(describe(s.commands), (std::vector<std::string>{"use app", "multi off"}));
  ASSERT_EQ(prep.on_commands_done({ok(), ok()}).kind, Kind::done);
  EXPECT_EQ(prep.profile(), w.profile);
}

// MariaDB 10.11 leaves no current database after COM_CHANGE_USER without one; a reset keeps
// the schema, so only COM_CHANGE_USER (with the token) gets the connection there.
TEST_F(ConnectionPrepTest, ClientChangeUserWithoutADatabaseDropsTheSchemaWithChangeUser) {
  Prep::Want w;
  w.profile = {.schema = std::nullopt, .collation = kUtf8mb4, .multi_statements = false, .ignore_space = false};
  w.no_schema = true;
  Prep prep = make(Prep::Purpose::change_user, settled(), w);
  ASSERT_EQ(prep.start().kind, Kind::change_user);
  EXPECT_EQ(prep.cleanup(), PoolCleanup::change_user);
  prep.change_user_sent(3);
  const Prep::Step s = prep.on_ready();
  EXPECT_EQ(describe(s.commands), (std::vector<std::string>{std::string(kSetUtf8mb4), "multi off"}));
  ASSERT_EQ(prep.on_commands_done({ok(), ok()}).kind, Kind::done);
  EXPECT_EQ(prep.profile().schema, std::nullopt);

  // A session with no schema (and known to have none) keeps the cheaper reset.
  Prep::Have none = settled();
  none.profile.schema.reset();
  Prep reset = make(Prep::Purpose::change_user, none, w);
  EXPECT_EQ(describe(reset.start().commands), std::vector<std::string>{"reset"});
  // One whose schema is in doubt does not.
  none.schema_known = false;
  EXPECT_EQ(make(Prep::Purpose::change_user, none, w).start().kind, Kind::change_user);
}

// The transparent reconnect: fix-ups and the session's replayed state; any ERR fails it.
TEST_F(ConnectionPrepTest, ReconnectReplaysTheSessionAfterTheFixUps) {
  Prep::Have h;
  Prep::Want w;
  w.profile.schema = "app";
  w.replayed_sets = {"SET @a = 1", "SET time_zone = '+00:00'"};
  w.autocommit_off = true;
  Prep prep = make(Prep::Purpose::reconnect, h, w);
  Prep::Step s = prep.start();
  EXPECT_EQ(describe(s.commands),
            (std::vector<std::string>{"use app", "SET @a = 1", "SET time_zone = '+00:00'", "SET autocommit = 0"}));
  ASSERT_EQ(prep.on_commands_done({ok(), ok(), ok(), ok(0)}).kind, Kind::done);
  EXPECT_EQ(prep.status_flags(), 0);
}

TEST_F(ConnectionPrepTest, ReconnectFailsOnAnyError) {
  for (size_t failing = 0; failing < 3; ++failing) {
    Prep::Have h;
    Prep::Want w;
    w.profile = {.schema = "app", .collation = kUtf8mb4, .multi_statements = false, .ignore_space = false};
    w.replayed_sets = {"SET @a = 1"};
    Prep prep = make(Prep::Purpose::reconnect, h, w);
    prep.start();
    std::vector<InternalResult> results = {ok(), ok(), ok()};
    results[failing] = err(1064, "bad");
    ASSERT_EQ(prep.on_commands_done(results).kind, Kind::failed) << failing;
    EXPECT_EQ(prep.failure().kind, FailKind::command_failed) << failing;
  }
}

TEST_F(ConnectionPrepTest, ACheckoutPipelineHasOnlyTheFixUpsThatDiffer) {
  Prep::Have h;
  h.profile = {.schema = std::nullopt, .collation = 0, .multi_statements = true, .ignore_space = false};
  Prep::Want w;
  w.profile = {.schema = "x", .collation = 0, .multi_statements = false, .ignore_space = false};
  Prep prep = make(Prep::Purpose::checkout, h, w);
  EXPECT_EQ(describe(prep.start().commands), (std::vector<std::string>{"use x", "multi off"}));
}

// --pool-mode transaction: the client's command may follow the attach's fix-ups in the same
// flush only when none of them can fail and leave the connection in another state.
TEST_F(ConnectionPrepTest, AnAttachLetsTheCommandFollowOnlyFixUpsThatCannotFail) {
  Prep::Have same = settled();  // the connection already has the session's schema and collation
  Prep::Want carry;
  carry.profile = same.profile;
  carry.autocommit_off = true;
  carry.last_insert_id = 42;
  Prep prep = make(Prep::Purpose::attach, same, carry);
  EXPECT_EQ(describe(prep.start().commands),
            (std::vector<std::string>{"SET autocommit = 0", "SET last_insert_id = 42"}));
  EXPECT_TRUE(prep.let_commands_follow());
  ASSERT_EQ(prep.on_commands_done({ok(0), ok(0)}).kind, Kind::done);

  // Another session's state on it: a reset first, on a server known to answer it; its refusal
  // then fails the attach (the command is behind it: no CHANGE_USER fallback).
  Prep::Have foreign = settled();
  foreign.foreign_state = true;
  foreign.reset_worked = true;
  Prep::Want names = carry;
  names.profile.collation = kLatin1;
  Prep reset = make(Prep::Purpose::attach, foreign, names);
  EXPECT_EQ(describe(reset.start().commands),
            (std::vector<std::string>{"reset", "SET NAMES 'latin1' COLLATE 'latin1_swedish_ci'", "SET autocommit = 0",
                                      "SET last_insert_id = 42"}));
  EXPECT_TRUE(reset.let_commands_follow());
  ASSERT_EQ(reset.on_commands_done({err(1047), ok(), ok(0), ok(0)}).kind, Kind::failed);
  EXPECT_EQ(reset.failure().kind, FailKind::command_failed);
  // ... but not on a server whose answer to a reset is not known yet.
  Prep::Have untried = foreign;
  untried.reset_worked = false;
  Prep first = make(Prep::Purpose::attach, untried, names);
  first.start();
  EXPECT_FALSE(first.let_commands_follow());

  // COM_INIT_DB and the client's own SETs may fail and leave the old schema or value: the command
  // waits for their replies.
  Prep::Want schema = carry;
  schema.profile.schema = "other";
  Prep use = make(Prep::Purpose::attach, same, schema);
  EXPECT_EQ(describe(use.start().commands).front(), "use other");
  EXPECT_FALSE(use.let_commands_follow());
  Prep::Want sets = carry;
  sets.replayed_sets = {"SET time_zone = '+01:00'"};
  Prep replay = make(Prep::Purpose::attach, same, sets);
  replay.start();
  EXPECT_FALSE(replay.let_commands_follow());

  // Only an attach, and only while its pipeline runs.
  Prep reconnect = make(Prep::Purpose::reconnect, same, carry);
  reconnect.start();
  EXPECT_FALSE(reconnect.let_commands_follow());
  Prep::Want as_is;
  as_is.profile = same.profile;
  Prep nothing = make(Prep::Purpose::attach, same, as_is);
  EXPECT_EQ(nothing.start().kind, Kind::done);
  EXPECT_FALSE(nothing.let_commands_follow());
}

TEST(ConnectionPrepNames, StatesAndFailuresHaveNames) {
  EXPECT_EQ(to_string(ConnectionPrep::State::changing_user), "changing_user");
  EXPECT_EQ(to_string(ConnectionPrep::Failure::Kind::token_rejected), "token_rejected");
}

}  // namespace
}  // namespace camproxy::proxy
