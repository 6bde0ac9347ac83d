// Decides whether a secret seen leaving is misuse: each credential kind has the hosts it may
// legitimately go to (or none at all), and the destination is the name the bytes really go to
// (SNI, then the DNS name of the peer IP, then the IP) — never the Host header alone.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "alert/alert.h"
#include "catalogue/rules.h"

namespace credsentry::detect {

// What the resolver found out about a stream's destination.
struct ResolvedDestination {
  alert::Destination where;
  std::vector<std::string> notes;  // the request's claims where they disagree or cannot be checked
  // No IP and no name: why the bytes could not be tied to a peer (for the finding's summary).
  std::string unknown_why;
};

struct Verdict {
  bool alert = false;
  // The secret's destination is unknown: a lower-severity finding that says so, never the
  // claim that it went somewhere unexpected (a TLS write we could not tie to its socket may
  // well have gone to the right provider).
  bool destination_unknown = false;
  std::string reason;  // one sentence for the alert summary
};

// `unknown_why` explains an unknown destination in the finding's summary.
Verdict Judge(const catalogue::CredentialKind& kind, const alert::Destination& dest,
              const std::string& unknown_why = "");

// Suppresses repeats of the same (process, secret, destination) within a window, so a client
// retrying a request raises one alert, not fifty. Bounded: the oldest key is forgotten first.
class Deduplicator {
 public:
  Deduplicator(uint64_t window_ns, size_t max_keys) : window_ns_(window_ns), max_keys_(max_keys) {}
  // True the first time `key` is seen within the window.
  bool FirstTime(const std::string& key, uint64_t now_ns);
  uint64_t suppressed() const { return suppressed_; }

 private:
  uint64_t window_ns_;
  size_t max_keys_;
  std::list<std::pair<std::string, uint64_t>> order_;  // oldest first
  std::unordered_map<std::string, std::list<std::pair<std::string, uint64_t>>::iterator> index_;
  uint64_t suppressed_ = 0;
};

}  // namespace credsentry::detect
