#include "stream/stream_table.h"

#include <vector>

namespace credsentry::stream {

Stream& StreamTable::Get(const StreamKey& key, const std::shared_ptr<const match::MatcherDatabase>& db) {
  auto it = streams_.find(key);
  if (it != streams_.end()) {
    lru_.splice(lru_.end(), lru_, it->second.lru);
    return it->second.stream;
  }
  if (streams_.size() >= max_streams_ && !lru_.empty()) {
    CloseEntry(streams_.find(lru_.front()));
    ++evicted_;
  }
  lru_.push_back(key);
  Entry entry{Stream{}, std::prev(lru_.end())};
  entry.stream.matcher = std::make_unique<match::MatchStream>(db);
  entry.stream.decoder = std::make_unique<decoders::EgressDecoder>(decoder_limits_);
  return streams_.emplace(key, std::move(entry)).first->second.stream;
}

void StreamTable::CloseEntry(std::unordered_map<StreamKey, Entry, StreamKeyHash>::iterator it) {
  if (it == streams_.end()) return;
  if (on_close_) on_close_(it->first, it->second.stream);
  lru_.erase(it->second.lru);
  streams_.erase(it);
}

Stream* StreamTable::Find(const StreamKey& key) {
  auto it = streams_.find(key);
  return it == streams_.end() ? nullptr : &it->second.stream;
}

void StreamTable::Close(const StreamKey& key) { CloseEntry(streams_.find(key)); }

void StreamTable::CloseIf(const std::function<bool(const StreamKey&, const Stream&)>& pred) {
  std::vector<StreamKey> doomed;
  for (const auto& [key, entry] : streams_) {
    if (pred(key, entry.stream)) doomed.push_back(key);
  }
  for (const auto& key : doomed) Close(key);
}

}  // namespace credsentry::stream
