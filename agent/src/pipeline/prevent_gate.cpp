#include "pipeline/prevent_gate.h"

#include <nghttp2/nghttp2.h>

#include <memory>
#include <set>

#include "match/encoded_prefixes.h"
#include "match/known_values.h"

namespace credsentry::pipeline {
namespace {

bool NameMatches(const std::string& want, const std::string& comm, const std::string& exe) {
  if (want.empty()) return true;
  if (want == comm || want == exe) return true;
  // A bare name matches the executable's file name too (comm is cut at 15 bytes).
  const size_t slash = exe.rfind('/');
  return slash != std::string::npos && exe.compare(slash + 1, std::string::npos, want) == 0;
}

struct DeflaterDeleter {
  void operator()(nghttp2_hd_deflater* d) const { nghttp2_hd_deflate_del(d); }
};

// The bytes an HTTP/2 client sends for a header value starting with `text`, when its HPACK
// encoder Huffman-codes the value (nghttp2 and Go do whenever that is shorter): the value's first
// bytes, without the last one, whose bits the following characters complete. Empty when the
// encoder kept the value literal (then the raw anchors cover it).
std::string HuffmanCodedStart(const std::string& text) {
  nghttp2_hd_deflater* raw = nullptr;
  if (nghttp2_hd_deflate_new(&raw, 4096) != 0) return "";
  std::unique_ptr<nghttp2_hd_deflater, DeflaterDeleter> deflater(raw);
  std::string name = "x-a";
  nghttp2_nv nv{reinterpret_cast<uint8_t*>(name.data()),
                reinterpret_cast<uint8_t*>(const_cast<char*>(text.data())), name.size(),
                text.size(), NGHTTP2_NV_FLAG_NO_INDEX};
  uint8_t out[512];
  ssize_t n = nghttp2_hd_deflate_hd(deflater.get(), out, sizeof out, &nv, 1);
  if (n <= 0) return "";
  // The block ends with the value: its length byte (H bit set, 7-bit length) and its bytes.
  for (ssize_t len = 1; len < 127 && len + 1 < n; ++len) {
    if (out[n - len - 1] == (0x80 | len)) {
      return std::string(reinterpret_cast<const char*>(out + n - len), len - 1);
    }
  }
  return "";
}

}  // namespace

bool PreventAllow::Matches(const std::string& comm, const std::string& exe,
                           const std::string& host, const std::string& ip,
                           const std::string& kind_id) const {
  if (!NameMatches(process, comm, exe)) return false;
  if (!destination.empty() && destination != host && destination != ip) return false;
  return kind.empty() || kind == kind_id;
}

bool PreventGate::OnHeldChunk(uint32_t pid, uint64_t held_ns, bool last_chunk) {
  auto it = holds_.find(pid);
  if (it == holds_.end()) {
    if (holds_.size() >= kMaxHolds) {
      ++counters_.prevent_hold_table_full;
      return false;
    }
    ++counters_.prevent_held_writes;
    it = holds_.emplace(pid, Hold{held_ns, false}).first;
  }
  if (last_chunk) it->second.complete = true;
  return true;
}

void PreventGate::Killed(uint32_t pid, bool ok) {
  holds_.erase(pid);
  ++(ok ? counters_.prevent_kills : counters_.prevent_kill_failed);
  if (ok) Remember(pid, alert::Action::kKilled);
}

void PreventGate::Remember(uint32_t pid, alert::Action action) {
  if (killed_.size() >= kMaxRemembered) killed_.clear();
  killed_[pid] = action;
}

bool PreventGate::ExemptedAfterSend(uint32_t pid) {
  if (exempted_.size() >= kMaxRemembered) exempted_.clear();
  if (!exempted_.insert(pid).second) return false;
  ++counters_.prevent_exempted;
  return true;
}

void PreventGate::KilledAfterSend(uint32_t pid, bool ok) {
  ++(ok ? counters_.prevent_kills_after_send : counters_.prevent_kill_failed);
  if (ok) Remember(pid, alert::Action::kKilledAfterSend);
}

bool PreventGate::MarkExempted(uint32_t pid) {
  auto it = holds_.find(pid);
  if (it == holds_.end() || it->second.exempted) return false;
  it->second.exempted = true;
  ++counters_.prevent_exempted;
  return true;
}

std::vector<uint32_t> PreventGate::TakeAll() {
  std::vector<uint32_t> out;
  for (const auto& [pid, hold] : holds_) out.push_back(pid);
  counters_.prevent_releases += holds_.size();
  holds_.clear();
  return out;
}

PreventAnchorSet PreventAnchors(const PreventAnchorSources& sources) {
  std::set<std::string> text, huffman;
  auto add_huffman = [&](const std::string& value) {
    std::string coded = HuffmanCodedStart(value);
    if (coded.size() >= 5) huffman.insert(coded.substr(0, 5));
  };
  for (const auto& pattern : sources.patterns) {
    for (const auto& prefix : match::LiteralPrefixes(pattern)) {
      if (prefix.size() < 3) continue;
      text.insert(prefix.substr(0, 3));
      // HTTP/2 headers: a key opening a value (x-api-key) or after a scheme (authorization).
      for (const std::string& value : {prefix, "Bearer " + prefix, "token " + prefix}) {
        add_huffman(value);
      }
    }
  }
  for (const auto& e : match::EncodedPrefixes(sources.patterns)) {
    if (e.literal.size() >= 3) text.insert(e.literal.substr(0, 3));
  }
  for (const auto& value : sources.known_values) {
    for (const auto& [form, encoding] : match::EncodedForms(value)) {
      if (form.size() >= 3) text.insert(form.substr(0, 3));
    }
    add_huffman(value.substr(0, 16));
  }
  return {{text.begin(), text.end()}, {huffman.begin(), huffman.end()}};
}

}  // namespace credsentry::pipeline
