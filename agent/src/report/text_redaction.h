// Text that leaves the agent's memory (command lines, ancestors' command lines, summaries, evidence
// notes, log and trace lines) is redacted here, and only here. A key whose format the catalogue
// does not know must not leave either, so three things are hidden:
//   - values: the catalogue's formats (Hyperscan over the text), values learned on this host
//     (credential files, environments) and the secret an alert is about;
//   - secret-shaped context: the value after a secret-looking option, header or assignment name
//     (--password X, Authorization: Bearer X, token=X, FOO_API_KEY=X, "secret": "X"), the password
//     of URL userinfo (https://user:X@host/);
//   - random-looking tokens of 20 or more characters (report/random_token.h describes the test).
// The last two need no known value and live in report/secret_shapes.h.
// Paths, host names, flags and words stay readable: they are what makes an alert useful.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "alert/alert.h"

namespace credsentry::match {
class MatcherDatabase;
}

namespace credsentry::report {

// A value to hide wherever it appears; its preview shows `prefix` leading characters.
struct HiddenValue {
  std::string_view value;
  size_t prefix = 0;
};

// The one way text leaves memory: catalogue matches, learned values and `also` are replaced by
// their previews, then the shape rules run. Learned values are bounded; a value past the bound is
// still hidden when its shape gives it away, and is counted in dropped().
class TextRedactor {
 public:
  static constexpr size_t kMaxValues = 4096;
  static constexpr size_t kMinValueBytes = 8;  // shorter values would hide ordinary words
  static constexpr size_t kMaxValueBytes = 4096;

  // A secret value seen on this host (credential file, environment variable).
  void Remember(std::string_view value);

  // `catalogue` may be null (then only learned values, `also` and shapes are hidden).
  std::string Redact(std::string_view text,
                     const std::shared_ptr<const match::MatcherDatabase>& catalogue,
                     std::span<const HiddenValue> also = {}) const;

  size_t size() const { return values_.size(); }
  uint64_t dropped() const { return dropped_; }

 private:
  std::unordered_set<std::string> values_;
  uint64_t dropped_ = 0;
};

// Every free-text field of `alert` other than the command lines (which their builders redact as
// they join argv): executables, summary, notes, paths, names taken from the process or the wire.
// Identities the cgroup path gives (container id, systemd unit, pod) are left as they are: a
// 64-hex container id would look like a key, and it is what a responder searches for.
void RedactAlertText(alert::Alert& alert, const TextRedactor& redactor,
                     const std::shared_ptr<const match::MatcherDatabase>& catalogue,
                     HiddenValue also = {});

}  // namespace credsentry::report
