#include "stream/decoders/http1_decoder.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "stream/decoders/derived_text.h"

namespace credsentry::stream::decoders {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsMethodChar(char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }

// METHOD SP target SP HTTP/1.x
bool ParseRequestLine(std::string_view line, std::string_view& target) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp1 > 20) return false;
  for (size_t i = 0; i < sp1; ++i) {
    if (!IsMethodChar(line[i])) return false;
  }
  size_t sp2 = line.rfind(' ');
  if (sp2 <= sp1) return false;
  if (line.substr(sp2 + 1).substr(0, 7) != "HTTP/1.") return false;
  target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  return !target.empty();
}

}  // namespace

bool LooksLikeHttp1Request(std::span<const uint8_t> bytes) {
  size_t n = std::min<size_t>(bytes.size(), 21);
  for (size_t i = 0; i < n; ++i) {
    char c = static_cast<char>(bytes[i]);
    if (c == ' ') return i >= 3;
    if (!IsMethodChar(c)) return false;
  }
  return n < 21;
}

Http1Decoder::Http1Decoder(const DecoderLimits& limits, DecoderCounters& counters,
                           ConnectionFacts& facts, TransformBudget& budget, bool start_in_resync)
    : limits_(limits),
      counters_(counters),
      facts_(facts),
      budget_(budget),
      state_(start_in_resync ? State::kResync : State::kRequestLine) {}

Http1Decoder::~Http1Decoder() = default;

void Http1Decoder::Feed(std::span<const uint8_t> bytes, const ChunkSink& sink) {
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (;;) {
    bool progressed = false;
    switch (state_) {
      case State::kRequestLine:
        progressed = RequestLine(sink);
        break;
      case State::kHeaders:
        progressed = HeaderLine(sink);
        break;
      case State::kBody:
        progressed = Body(sink);
        break;
      case State::kChunkSize:
        progressed = ChunkSize(sink);
        break;
      case State::kChunkData:
        progressed = ChunkData(sink);
        break;
      case State::kChunkEnd:
        progressed = ChunkEnd(sink);
        break;
      case State::kTrailers:
        progressed = Trailer(sink);
        break;
      case State::kResync:
        progressed = Resync(sink);
        break;
      case State::kUpgraded:
        break;
    }
    if (!progressed) break;
  }
  buf_.erase(0, pos_);
  pos_ = 0;
  if (state_ != State::kUpgraded && buf_.size() > limits_.max_buffered_bytes) {
    // Only a line can be pending here, and one this long is not HTTP: count it and resync.
    ++counters_.parse_errors;
    counters_.skipped_bytes += buf_.size();
    EmitUndecoded(buf_, decoding_, sink);
    buf_.clear();
    LoseSync(sink);
  }
}

bool Http1Decoder::NextLine(std::string_view& line, const ChunkSink& sink) {
  std::string_view pending = Pending();
  size_t nl = pending.find('\n');
  if (nl == std::string_view::npos) {
    if (pending.size() > limits_.max_header_bytes) {
      ++counters_.parse_errors;
      LoseSync(sink);
    }
    return false;
  }
  line = pending.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos_ += nl + 1;
  return true;
}

bool Http1Decoder::RequestLine(const ChunkSink& sink) {
  std::string_view line;
  size_t start = pos_;
  if (!NextLine(line, sink)) return false;
  if (line.empty()) return true;  // stray CRLF between pipelined requests is allowed
  std::string_view target;
  if (!ParseRequestLine(line, target)) {
    ++counters_.parse_errors;
    pos_ = start;
    LoseSync(sink);
    return true;
  }
  ++request_;
  ++counters_.requests;
  header_bytes_ = line.size();
  headers_truncated_ = false;
  chunked_ = false;
  remaining_ = 0;
  body_headers_ = {};
  websocket_offer_ = {};
  EmitUnit(kLayerHttp1RequestLine, request_, line, decoding_, sink);
  EmitDerived(target, TextKind::kQuery, {}, request_, decoding_,
              DerivedContext{limits_, counters_, sink});
  state_ = State::kHeaders;
  return true;
}

bool Http1Decoder::HeaderLine(const ChunkSink& sink) {
  std::string_view line;
  if (!NextLine(line, sink)) return false;
  if (line.empty()) {
    HeadersDone(sink);
    return true;
  }
  header_bytes_ += line.size();
  if (header_bytes_ > limits_.max_header_bytes) {
    if (!headers_truncated_) {
      headers_truncated_ = true;
      ++counters_.truncated_units;
    }
    counters_.skipped_bytes += line.size();
    return true;
  }
  size_t colon = line.find(':');
  std::string_view name = colon == std::string_view::npos ? line : line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : Trim(line.substr(colon + 1));
  if (colon == std::string_view::npos) ++counters_.parse_errors;
  NoteWebSocketHeader(name, value, websocket_offer_);
  EmitUnit(kLayerHttp1Header, request_, line, decoding_, sink);
  EmitDerived(value, TextKind::kHeaderValue, {}, request_, decoding_,
              DerivedContext{limits_, counters_, sink});
  if (IEquals(name, "host")) {
    facts_.http_host = std::string(value);
  } else if (IEquals(name, "content-length")) {
    uint64_t length = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec != std::errc() || end != value.data() + value.size()) {
      ++counters_.parse_errors;
    } else {
      remaining_ = length;
    }
  } else if (IEquals(name, "transfer-encoding")) {
    std::string lower(value);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    chunked_ = lower.find("chunked") != std::string::npos;
  } else if (IEquals(name, "content-encoding")) {
    body_headers_.content_encoding = std::string(value);
  } else if (IEquals(name, "content-type")) {
    body_headers_.content_type = std::string(value);
  }
  return true;
}

void Http1Decoder::HeadersDone(const ChunkSink& sink) {
  if (!chunked_ && remaining_ == 0) {
    EndRequest(sink);
    return;
  }
  std::vector<std::string> decoding = decoding_;
  if (chunked_) decoding.emplace_back("chunked");
  body_ = std::make_unique<BodyDecoder>(kLayerHttp1Body, request_, std::move(decoding),
                                        body_headers_, limits_, counters_, budget_);
  state_ = chunked_ ? State::kChunkSize : State::kBody;
}

bool Http1Decoder::Body(const ChunkSink& sink) {
  std::string_view pending = Pending();
  if (pending.empty()) return false;
  size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, pending.size()));
  body_->Feed({reinterpret_cast<const uint8_t*>(pending.data()), take}, sink);
  pos_ += take;
  remaining_ -= take;
  if (remaining_ == 0) EndRequest(sink);
  return true;
}

bool Http1Decoder::ChunkSize(const ChunkSink& sink) {
  std::string_view line;
  if (!NextLine(line, sink)) return false;
  line = Trim(line.substr(0, line.find(';')));
  uint64_t size = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
  if (line.empty() || ec != std::errc() || end != line.data() + line.size()) {
    ++counters_.parse_errors;
    body_->Finish(sink);
    body_.reset();
    LoseSync(sink);
    return true;
  }
  remaining_ = size;
  state_ = size == 0 ? State::kTrailers : State::kChunkData;
  return true;
}

bool Http1Decoder::ChunkData(const ChunkSink& sink) {
  std::string_view pending = Pending();
  if (pending.empty()) return false;
  size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, pending.size()));
  body_->Feed({reinterpret_cast<const uint8_t*>(pending.data()), take}, sink);
  pos_ += take;
  remaining_ -= take;
  if (remaining_ == 0) state_ = State::kChunkEnd;
  return true;
}

bool Http1Decoder::ChunkEnd(const ChunkSink& sink) {
  std::string_view line;
  if (!NextLine(line, sink)) return false;
  if (!line.empty()) ++counters_.parse_errors;  // data longer than its size line said
  state_ = State::kChunkSize;
  return true;
}

bool Http1Decoder::Trailer(const ChunkSink& sink) {
  std::string_view line;
  if (!NextLine(line, sink)) return false;
  if (line.empty()) {
    EndRequest(sink);
  } else {
    EmitUnit(kLayerHttp1Header, request_, line, decoding_, sink);
  }
  return true;
}

void Http1Decoder::Finish(const ChunkSink& sink) {
  if (!body_) return;
  ++counters_.bodies_cut_at_end;
  body_->Finish(sink);
  body_.reset();
}

void Http1Decoder::EndRequest(const ChunkSink& sink) {
  if (body_) body_->Finish(sink);
  body_.reset();
  state_ = websocket_offer_.Requested() ? State::kUpgraded : State::kRequestLine;
}

std::string Http1Decoder::TakeRest() {
  std::string rest = std::move(buf_);
  buf_.clear();
  pos_ = 0;
  return rest;
}

void Http1Decoder::LoseSync(const ChunkSink& sink) {
  if (body_) body_->Finish(sink);
  body_.reset();
  state_ = State::kResync;
}

bool Http1Decoder::Resync(const ChunkSink& sink) {
  // A request line starts right after a newline (or at the very start of the buffer when we
  // were sent here by a bad request line, which was consumed up to its newline by then).
  std::string_view pending = Pending();
  size_t search = 0;
  while (search < pending.size()) {
    size_t nl = pending.find('\n', search);
    if (nl == std::string_view::npos) break;
    std::string_view rest = pending.substr(nl + 1);
    size_t eol = rest.find('\n');
    if (eol == std::string_view::npos) {
      // Cannot judge an incomplete line yet: drop what precedes it and wait.
      pending = pending.substr(0, nl + 1);
      break;
    }
    std::string_view candidate = rest.substr(0, eol);
    if (!candidate.empty() && candidate.back() == '\r') candidate.remove_suffix(1);
    std::string_view target;
    if (ParseRequestLine(candidate, target)) {
      std::string_view skipped = pending.substr(0, nl + 1);
      counters_.skipped_bytes += skipped.size();
      EmitUndecoded(skipped, decoding_, sink);
      pos_ += nl + 1;
      state_ = State::kRequestLine;
      return true;
    }
    search = nl + 1;
  }
  // No request line yet: everything up to the last newline is skipped (and shown raw). The
  // incomplete last line is kept, bounded by Feed.
  size_t last_nl = pending.rfind('\n');
  if (last_nl == std::string_view::npos) return false;
  std::string_view skipped = pending.substr(0, last_nl + 1);
  counters_.skipped_bytes += skipped.size();
  EmitUndecoded(skipped, decoding_, sink);
  pos_ += last_nl + 1;
  return false;
}

}  // namespace credsentry::stream::decoders
