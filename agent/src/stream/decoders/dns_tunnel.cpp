#include "stream/decoders/dns_tunnel.h"

#include <algorithm>
#include <cctype>

#include "stream/decoders/text_codecs.h"

namespace credsentry::stream::decoders {
namespace {

constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxName = 253;
constexpr size_t kMinParentLabels = 2;  // a parent is a zone someone registered: a.b at least

// Labels of a question name; empty when it is not a host name a resolver would send on.
std::vector<std::string_view> SplitLabels(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::vector<std::string_view> labels;
  if (name.empty() || name.size() > kMaxName) return labels;
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > kMaxLabel) return {};
    labels.push_back(label);
    if (dot == std::string_view::npos) return labels;
    start = dot + 1;
  }
}

// The characters hex, base32 and base64url labels are made of.
bool InAlphabet(std::string_view label) {
  return !label.empty() && std::all_of(label.begin(), label.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}

bool IsSequence(std::string_view label) {
  return !label.empty() && label.size() <= DnsTunnelReassembler::kMaxSequenceDigits &&
         std::all_of(label.begin(), label.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A label that can open a tunnel: long, letters and digits mixed (words and host names rarely
// are), never "--" (IDN punycode "xn--", CDN names like "r3---sn-...").
bool LooksEncoded(std::string_view label) {
  if (label.size() < DnsTunnelReassembler::kMinDataLabel || !InAlphabet(label)) return false;
  if (label.find("--") != std::string_view::npos) return false;
  bool digit = false, alpha = false;
  for (unsigned char c : label) {
    digit = digit || std::isdigit(c);
    alpha = alpha || std::isalpha(c);
  }
  return digit && alpha;
}

std::string LowerJoined(const std::vector<std::string_view>& labels, size_t from) {
  std::string out;
  for (size_t i = from; i < labels.size(); ++i) {
    if (i > from) out.push_back('.');
    for (unsigned char c : labels[i]) out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

std::string TunnelKey(uint32_t pid, std::string_view parent) {
  std::string key = std::to_string(pid);
  key.push_back('|');
  key.append(parent);
  return key;
}

// Where the data labels of a query that opens a tunnel end (0: it opens none).
size_t NewTunnelDataEnd(const std::vector<std::string_view>& labels) {
  size_t end = 0;
  for (size_t i = 0; i < labels.size() && InAlphabet(labels[i]); ++i) {
    if (LooksEncoded(labels[i])) end = i + 1;
  }
  if (end == 0 || labels.size() - end < kMinParentLabels) return 0;
  if (labels.size() - end > kMinParentLabels && IsSequence(labels[end])) ++end;
  return end;
}

}  // namespace

std::string DnsTunnelReassembler::OnQuery(uint32_t pid, std::string_view qname, uint64_t mono_ns) {
  const std::vector<std::string_view> labels = SplitLabels(qname);
  if (labels.size() <= kMinParentLabels) return {};
  // A tunnel this process already has: every alphabet label before its parent is data.
  size_t data_end = 0;
  std::string parent;
  Table::iterator it = tunnels_.end();
  for (size_t k = 1; k + kMinParentLabels <= labels.size(); ++k) {
    if (!InAlphabet(labels[k - 1])) break;
    std::string candidate = LowerJoined(labels, k);
    it = tunnels_.find(TunnelKey(pid, candidate));
    if (it != tunnels_.end()) {
      data_end = k;
      parent = std::move(candidate);
      break;
    }
  }
  if (it == tunnels_.end()) {
    data_end = NewTunnelDataEnd(labels);
    if (data_end == 0) return {};  // an ordinary lookup: no state
    parent = LowerJoined(labels, data_end);
  }

  size_t first = 0, last = data_end;
  bool has_sequence = false;
  uint64_t sequence = 0;
  if (last - first >= 2 && (IsSequence(labels[first]) || IsSequence(labels[last - 1]))) {
    std::string_view seq = IsSequence(labels[first]) ? labels[first++] : labels[--last];
    has_sequence = true;
    for (char c : seq) sequence = sequence * 10 + static_cast<uint64_t>(c - '0');
  }
  std::string piece;
  for (size_t i = first; i < last; ++i) piece.append(labels[i]);

  if (it != tunnels_.end() && it->second.bytes + piece.size() > kMaxTunnelBytes) {
    ++counters_.tunnel_truncated;
    Flush(it);
    it = tunnels_.end();
  }
  if (it == tunnels_.end()) it = Open(pid, parent, mono_ns);
  Tunnel& t = it->second;
  t.last_ns = mono_ns;
  lru_.splice(lru_.end(), lru_, t.lru);
  Join(t, piece, has_sequence, sequence);
  return parent;
}

DnsTunnelReassembler::Table::iterator DnsTunnelReassembler::Open(uint32_t pid,
                                                                 const std::string& parent,
                                                                 uint64_t mono_ns) {
  if (tunnels_.size() >= kMaxTunnels) {
    ++counters_.tunnel_evictions;
    Flush(tunnels_.find(lru_.front()));
  }
  ++counters_.tunnel_opened;
  std::string key = TunnelKey(pid, parent);
  lru_.push_back(key);
  auto it = tunnels_.emplace(std::move(key), Tunnel{}).first;
  it->second.pid = pid;
  it->second.parent = parent;
  it->second.last_ns = mono_ns;
  it->second.lru = std::prev(lru_.end());
  return it;
}

void DnsTunnelReassembler::Join(Tunnel& t, std::string_view piece, bool has_sequence,
                                uint64_t sequence) {
  if (has_sequence) {
    if (t.sequenced.contains(sequence)) {
      ++counters_.tunnel_duplicates;
      return;
    }
    if (!t.sequenced.empty() && sequence < t.sequenced.rbegin()->first) {
      ++counters_.tunnel_out_of_order;
    }
    t.sequenced.emplace(sequence, piece);
  } else {
    // getaddrinfo asks A and AAAA for one name, and resolvers resend: the same piece twice in
    // a row is one piece.
    if (t.queries > 0 && piece == t.last_piece) {
      ++counters_.tunnel_duplicates;
      return;
    }
    t.in_order.append(piece);
    t.last_piece = piece;
  }
  t.bytes += piece.size();
  ++t.queries;
  ++counters_.tunnel_queries;
}

void DnsTunnelReassembler::Expire(uint64_t now_mono_ns) {
  while (!lru_.empty()) {
    auto it = tunnels_.find(lru_.front());
    if (it->second.last_ns + kIdleNs >= now_mono_ns) return;  // the rest were used later
    Flush(it);
  }
}

void DnsTunnelReassembler::FlushProcess(uint32_t pid) {
  for (auto it = tunnels_.begin(); it != tunnels_.end();) {
    auto next = std::next(it);
    if (it->second.pid == pid) Flush(it);
    it = next;
  }
}

void DnsTunnelReassembler::FlushAll() {
  while (!tunnels_.empty()) Flush(tunnels_.begin());
}

void DnsTunnelReassembler::Flush(Table::iterator it) {
  Tunnel t = std::move(it->second);
  lru_.erase(t.lru);
  tunnels_.erase(it);
  ++counters_.tunnel_flushes;
  DnsTunnelPayload payload{.pid = t.pid, .parent = std::move(t.parent), .queries = t.queries};
  if (t.queries <= 1) {
    ++counters_.tunnel_single_query;
  } else {
    std::string joined;
    joined.reserve(t.bytes);
    for (const auto& [seq, piece] : t.sequenced) joined.append(piece);
    joined.append(t.in_order);
    payload.candidates = DnsTunnelCandidates(std::move(joined), counters_);
  }
  on_flush_(payload);
}

std::vector<DnsTunnelCandidate> DnsTunnelCandidates(std::string joined,
                                                    DnsTunnelCounters& counters) {
  std::vector<DnsTunnelCandidate> out;
  auto hex = HexDecode(joined);
  auto base32 = Base32Decode(joined);
  auto base64 = Base64Decode(joined);  // labels hold no '+' or '/': this is base64url
  if (!hex && !base32) {
    const bool lower_only = std::none_of(joined.begin(), joined.end(),
                                         [](unsigned char c) { return std::isupper(c); });
    const bool letters = std::any_of(joined.begin(), joined.end(),
                                     [](unsigned char c) { return std::isalpha(c); });
    if (!base64) {
      ++counters.tunnel_undecodable;
    } else if (lower_only && letters) {
      ++counters.tunnel_case_lost;
    }
  }
  out.push_back({"labels", std::move(joined)});
  if (hex) out.push_back({"hex", std::move(*hex)});
  if (base32) out.push_back({"base32", std::move(*base32)});
  if (base64) out.push_back({"base64url", std::move(*base64)});
  return out;
}

}  // namespace credsentry::stream::decoders
