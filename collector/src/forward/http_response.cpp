#include "forward/http_response.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace credsentry::collector {

namespace {

// The value of header `name` (case-insensitive) in `head`, trimmed, or "".
std::string HeaderValue(std::string_view head, std::string_view name) {
  for (size_t pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    std::string_view line = head.substr(pos + 2);
    line = line.substr(0, line.find("\r\n"));
    if (line.size() <= name.size() || line[name.size()] != ':' ||
        strncasecmp(line.data(), name.data(), name.size()) != 0) {
      continue;
    }
    std::string_view v = line.substr(name.size() + 1);
    size_t b = v.find_first_not_of(" \t");
    if (b == std::string_view::npos) return "";
    return std::string(v.substr(b, v.find_last_not_of(" \t") - b + 1));
  }
  return "";
}

// Digits only, no sign or spaces: a number a server may not smuggle anything into.
bool ParseNumber(const std::string& text, int base, size_t max_digits, size_t* out) {
  if (text.empty() || text.size() > max_digits) return false;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, base);
  if (*end != '\0' || !(std::isxdigit(static_cast<unsigned char>(text[0])))) return false;
  *out = static_cast<size_t>(v);
  return true;
}

}  // namespace

bool ResponseReader::Add(std::string_view bytes) {
  if (complete_ || !error_.empty()) return false;
  if (raw_.size() + bytes.size() > max_bytes_) {
    error_ = "response larger than " + std::to_string(max_bytes_ / 1024) + " KiB: not read further";
    return false;
  }
  size_t search_from = raw_.size() < 3 ? 0 : raw_.size() - 3;
  raw_.append(bytes);
  while (body_at_ == std::string::npos) {
    size_t end = raw_.find("\r\n\r\n", search_from);
    if (end == std::string::npos) return true;
    body_at_ = end + 4;
    if (!ParseHead()) return false;
    search_from = 0;  // past a 1xx interim answer, which ParseHead erased: the next head
  }
  switch (framing_) {
    case Framing::kLength:
      complete_ = raw_.size() - body_at_ >= content_length_;
      if (complete_) response_.body = raw_.substr(body_at_, content_length_);
      break;
    case Framing::kChunked:
      complete_ = ParseChunks();
      break;
    case Framing::kNone:
      complete_ = true;
      break;
    case Framing::kToClose:
      break;
  }
  return !complete_ && error_.empty();
}

bool ResponseReader::ParseHead() {
  std::string_view head(raw_.data(), body_at_ - 2);  // keeps the last header's CRLF
  int status = 0;
  char version[16] = {};
  if (sscanf(std::string(head.substr(0, head.find("\r\n"))).c_str(), "HTTP/%15s %3d", version,
             &status) != 2 ||
      status < 100 || status > 999) {
    error_ = "malformed response (no HTTP status line)";
    return false;
  }
  if (status >= 100 && status < 200 && status != 101) {
    // An interim answer (100 Continue, 103 Early Hints): the real one follows it.
    raw_.erase(0, body_at_);
    body_at_ = std::string::npos;
    return true;
  }
  response_.status = status;
  if (auto ra = HeaderValue(head, "Retry-After"); !ra.empty()) {
    size_t s = 0;
    if (ParseNumber(ra, 10, 9, &s))
      response_.retry_after_s = static_cast<int>(std::min<size_t>(s, 3600));
  }
  std::string te = HeaderValue(head, "Transfer-Encoding");
  std::string cl = HeaderValue(head, "Content-Length");
  if (status == 204 || status == 304) {
    framing_ = Framing::kNone;
  } else if (!te.empty()) {
    // RFC 9112 §6.1: chunked is the last coding, and it wins over any Content-Length.
    if (te.size() < 7 || strcasecmp(te.c_str() + te.size() - 7, "chunked") != 0) {
      error_ = "response uses Transfer-Encoding '" + te.substr(0, 40) + "', which is not supported";
      return false;
    }
    framing_ = Framing::kChunked;
    next_chunk_ = body_at_;
  } else if (!cl.empty()) {
    if (!ParseNumber(cl, 10, 18, &content_length_)) {
      error_ = "response has a malformed Content-Length";
      return false;
    }
    framing_ = Framing::kLength;
  } else {
    framing_ = Framing::kToClose;
  }
  return true;
}

bool ResponseReader::ParseChunks() {
  while (true) {
    size_t eol = raw_.find("\r\n", next_chunk_);
    if (eol == std::string::npos) return false;
    std::string size_text = raw_.substr(next_chunk_, eol - next_chunk_);
    size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions are ignored
    while (!size_text.empty() && (size_text.back() == ' ' || size_text.back() == '\t')) {
      size_text.pop_back();
    }
    size_t size = 0;
    if (!ParseNumber(size_text, 16, 8, &size)) {
      error_ = "response has a malformed chunk size";
      return false;
    }
    if (size == 0) {  // the last chunk; then trailer lines, then a blank line
      return raw_.find("\r\n\r\n", eol) != std::string::npos;
    }
    size_t data = eol + 2;
    if (raw_.size() < data + size + 2) return false;
    if (raw_.compare(data + size, 2, "\r\n") != 0) {
      error_ = "response has a chunk longer than its size line says";
      return false;
    }
    response_.body.append(raw_, data, size);
    next_chunk_ = data + size + 2;
  }
}

Result<HttpResponse> ResponseReader::Finish(bool closed) {
  if (!error_.empty()) return Error{error_};
  if (complete_) return std::move(response_);
  if (!closed) return Error{"response not complete"};  // a caller's mistake, not the server's
  if (body_at_ == std::string::npos) {
    return Error{raw_.empty() ? "connection closed without a response"
                              : "connection closed in the middle of the response's headers"};
  }
  if (framing_ == Framing::kToClose && closed) {
    response_.body = raw_.substr(body_at_);
    return std::move(response_);
  }
  if (framing_ == Framing::kLength) {
    return Error{"connection closed after " + std::to_string(raw_.size() - body_at_) + " of the " +
                 std::to_string(content_length_) + " body bytes the response announced"};
  }
  return Error{"connection closed before the response's last chunk"};
}

}  // namespace credsentry::collector
