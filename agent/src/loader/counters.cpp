#include "loader/counters.h"

#include <array>

#include "credsentry_abi.h"

namespace credsentry::loader {
namespace {

// Indexed by enum cs_counter; the static_assert below keeps the two in step.
constexpr std::array<std::string_view, CS_CNT__COUNT> kCounterNames = {
    "ringbuf_drop_control",    // CS_CNT_RB_DROP_CONTROL
    "ringbuf_drop_data",       // CS_CNT_RB_DROP_DATA
    "truncated_socket_write",  // CS_CNT_TRUNC_SOCK
    "truncated_tls_write",     // CS_CNT_TRUNC_TLS
    "truncated_cred_read",     // CS_CNT_TRUNC_CRED_READ
    "fd_table_full",           // CS_CNT_FD_TABLE_FULL
    "call_table_full",         // CS_CNT_CALL_TABLE_FULL
    "user_read_fault",         // CS_CNT_READ_FAULT
    "out_of_scope_tls",        // CS_CNT_OUT_OF_SCOPE_TLS
    "iovecs_skipped",          // CS_CNT_IOV_SKIPPED
    "events_control",          // CS_CNT_EVENTS_CONTROL
    "events_data",             // CS_CNT_EVENTS_DATA
    "truncated_capture_budget",  // CS_CNT_TRUNC_BUDGET
    "truncated_dns_answer",    // CS_CNT_TRUNC_DNS_ANSWER
    "dns_messages_skipped",    // CS_CNT_DNS_MSGS_SKIPPED
    "memory_scrape_repeats",   // CS_CNT_SCRAPE_REPEATS
    "transfer_failed",         // CS_CNT_TRANSFER_FAILED
    "transfer_no_target",      // CS_CNT_TRANSFER_NO_TARGET
    "derived_credential_full", // CS_CNT_DERIVED_CRED_FULL
    "prevent_holds",           // CS_CNT_PREVENT_HOLDS
    "prevent_hold_table_full", // CS_CNT_PREVENT_HOLD_FULL
    "prevent_signal_failed",   // CS_CNT_PREVENT_SIGNAL_FAILED
    "prevent_scan_cut",        // CS_CNT_PREVENT_SCAN_CUT
    "uring_fixed_file",        // CS_CNT_URING_FIXED_FILE
    "uring_buffer_select",     // CS_CNT_URING_BUF_SELECT
    "uring_no_completion",     // CS_CNT_URING_NO_CQE
    "uring_pending_full",      // CS_CNT_URING_PENDING_FULL
    "block_refused",           // CS_CNT_BLOCK_REFUSED
    "block_allowed_dns",       // CS_CNT_BLOCK_ALLOWED_DNS
    "block_allowed_egress",    // CS_CNT_BLOCK_ALLOWED_EGRESS
    "block_allowed_dns_port",  // CS_CNT_BLOCK_ALLOWED_DNS_PORT
    "taint_table_full",        // CS_CNT_TAINT_FULL
    "block_dns_holds",         // CS_CNT_BLOCK_DNS_HOLDS
    "exec_holds",              // CS_CNT_EXEC_HOLDS
    "exec_hold_known",         // CS_CNT_EXEC_HOLD_KNOWN
    "exec_hold_tty_skipped",   // CS_CNT_EXEC_HOLD_TTY
    "exec_hold_failed",        // CS_CNT_EXEC_HOLD_FAILED
};
static_assert(CS_CNT_SCRAPE_REPEATS == 15 && CS_CNT_EXEC_HOLD_FAILED == CS_CNT__COUNT - 1,
              "cs_counter changed: update kCounterNames");
static_assert(CS_CNT_DERIVED_CRED_FULL == 18, "cs_counter changed: update kCounterNames");
static_assert(!kCounterNames.back().empty(), "cs_counter changed: update kCounterNames");

}  // namespace

std::string_view CounterName(uint32_t index) {
  return index < kCounterNames.size() ? kCounterNames[index] : std::string_view{};
}

uint32_t CounterCount() { return CS_CNT__COUNT; }

}  // namespace credsentry::loader
