// The pipeline's own counters, named once. Pipeline::Counters() exports them through ForEach,
// with those of its collaborators (egress streams, the credential learner, the DNS tracker), so
// each one reaches --stats-file under `pipeline`.
#pragma once

#include "common/counters.h"
#include "stream/decoders/decoded_chunk.h"
#include "match/matcher.h"

namespace credsentry::pipeline {

#define CREDSENTRY_PIPELINE_COUNTERS(X)                                                       \
  X(records, "ring-buffer records handed to Handle()")                                        \
  X(records_undecodable, "records the decoder refused")                                       \
  X(payload_truncated, "payload records whose capture the kernel cut")                        \
  X(alerts, "alerts written to the sinks")                                                    \
  X(alert_sink_errors, "sink writes that failed")                                             \
  X(alerts_suppressed_duplicate, "alerts the deduplicator held back")                         \
  X(tls_client_hellos, "ClientHellos seen in plain socket writes")                            \
  X(tls_client_hellos_unparsed, "ClientHellos that did not parse")                            \
  X(secret_matches, "secrets matched in any stream")                                          \
  X(secrets_held_for_destination, "secrets waiting for their destination to be known")        \
  X(secrets_hold_full, "secrets judged with what was known: the hold was full")               \
  X(secrets_held_then_resolved, "held secrets whose destination became known")                \
  X(secrets_to_expected_destinations, "secrets sent where their kind expects")                \
  X(verdicts_destination_unknown, "secrets judged without a known destination")               \
  X(credential_opens, "credential files opened")                                              \
  X(credential_reads, "reads of credential files")                                            \
  X(process_accesses, "reads of another process's memory or environment")                     \
  X(kernel_transfers, "credential bytes the kernel moved (sendfile, splice, mmap...)")        \
  X(kernel_transfers_to_expected, "of those, to a socket the credential may reach")           \
  X(derived_credential_files_dropped, "copies of credential files not named: table full")     \
  X(tainted_egress_dropped, "tainted-egress alerts not deferred (pending table full)")       \
  X(block_refused, "connects of tainted processes the kernel refused (prevent mode)")        \
  X(block_alerts_suppressed, "refused connects said already for their process and peer")     \
  X(block_dns_holds, "DNS answers of tainted processes held until read (prevent mode)")

struct PipelineCounters {
  CREDSENTRY_COUNTER_MEMBERS(CREDSENTRY_PIPELINE_COUNTERS, PipelineCounters)
};

// What the pipeline exports: its own counters by name, the matcher totals as matcher_<name>,
// the stream decoders' as decoder_<name>, the DNS-message decoder's and the DNS tracker's
// (detect/dns_tracker.h) as dns_<name>, and the learned set's (match/known_values.h) as
// known_values_<name>.
inline constexpr const char* kMatcherPrefix = "matcher_";
inline constexpr const char* kDecoderPrefix = "decoder_";
inline constexpr const char* kDnsDecoderPrefix = "dns_";
inline constexpr const char* kKnownValuesPrefix = "known_values_";

}  // namespace credsentry::pipeline
