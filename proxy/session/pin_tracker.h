#pragma once
// Whether a session in --pool-mode transaction may give its database connection back after a
// response, and if not why (docs/operations.md "Transaction pooling"). Pure: the session feeds
// it each response with what the command's statements pin (sql_classifier.h SessionEffects::pins)
// and what the response says; "when in doubt, pin" keeps every client's view exact.
//
// Three kinds of pin: the open transaction (the status flags after each response), the state a
// statement leaves that only ends with the session or with COM_RESET_CONNECTION (user variables,
// temporary tables, GET_LOCK, XA, prepared statements, what camproxy cannot follow; LOCK TABLES and
// FLUSH TABLES WITH READ LOCK end at UNLOCK TABLES), and last_result: a response whose details a
// next command could ask about (warnings or an error for SHOW WARNINGS, changed rows for
// ROW_COUNT(), SQL_CALC_FOUND_ROWS for FOUND_ROWS()) keeps the connection until the next
// command's response.
#include <cstdint>
#include <optional>

#include "proxy/ops/metrics.h"

namespace camproxy::proxy {

class PinTracker {
 public:
  struct Response {
    uint16_t pins = 0;           // what the command pins, one bit per PinReason (pin_bit())
    bool unlock_tables = false;  // the command ran UNLOCK TABLES
    bool reset = false;          // COM_RESET_CONNECTION
    bool error = false;          // the response ended with ERR
    uint16_t status_flags = 0;   // after the response
    uint16_t warnings = 0;
    uint64_t affected_rows = 0;
  };

  // A command's response ended. Returns the reason of a pin it started (the session was shareable
  // before), for camproxy_pool_pins_total; nullopt when none started.
  std::optional<PinReason> on_response(const Response& r);
  // The first reason the session is pinned for now (in PinReason order); nullopt: shareable.
  std::optional<PinReason> reason() const;
  bool pinned() const { return active() != 0; }

 private:
  uint16_t active() const;

  uint16_t sticky_ = 0;  // pins that end with the session, COM_RESET_CONNECTION or UNLOCK TABLES
  bool in_transaction_ = false;
  bool last_result_ = false;
};

}  // namespace camproxy::proxy
