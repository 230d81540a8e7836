#include "proxy/session/pin_tracker.h"

#include "protocol/constants.h"
#include "proxy/session/sql_classifier.h"

namespace camproxy::proxy {
namespace {

constexpr uint16_t kLocks = pin_bit(PinReason::lock_tables) | pin_bit(PinReason::read_lock);
constexpr uint16_t kPerResponse = pin_bit(PinReason::transaction) | pin_bit(PinReason::last_result);

}  // namespace

std::optional<PinReason> PinTracker::on_response(const Response& r) {
  const bool was_pinned = pinned();
  // COM_RESET_CONNECTION ends every pin: the server drops variables, temporary tables, locks,
  // prepared statements (spec/mysql-protocol.md §5.1). A command both unlocking and locking
  // ("UNLOCK TABLES; LOCK TABLES t READ") keeps its new lock: the unlock applies first.
  if (r.reset && !r.error) sticky_ = 0;
  if (r.unlock_tables && !r.error) sticky_ &= static_cast<uint16_t>(~kLocks);
  sticky_ |= static_cast<uint16_t>(r.pins & ~kPerResponse);
  // An ERR leaves the previous status flags (the tracker keeps them).
  in_transaction_ = (r.status_flags & protocol::status::kInTrans) != 0;
  last_result_ = r.error || r.warnings > 0 || r.affected_rows > 0 || (r.pins & pin_bit(PinReason::last_result)) != 0;
  if (was_pinned || !pinned()) return std::nullopt;
  return reason();
}

uint16_t PinTracker::active() const {
  uint16_t bits = sticky_;
  if (in_transaction_) bits |= pin_bit(PinReason::transaction);
  if (last_result_) bits |= pin_bit(PinReason::last_result);
  return bits;
}

std::optional<PinReason> PinTracker::reason() const {
  const uint16_t bits = active();
  for (unsigned i = 0; i < 16; ++i) {
    if ((bits & (1U << i)) != 0) return static_cast<PinReason>(i);
  }
  return std::nullopt;
}

}  // namespace camproxy::proxy
