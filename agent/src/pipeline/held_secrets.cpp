#include "pipeline/held_secrets.h"

#include <utility>

namespace credsentry::pipeline {

bool HeldSecrets::Hold(HeldSecret s) {
  if (held_.size() >= max_) return false;
  held_.push_back(std::move(s));
  return true;
}

void HeldSecrets::Retry(uint32_t pid, const Judge& judge) {
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->ctx.pid == pid && judge(*it)) {
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

void HeldSecrets::Expire(uint64_t now_ns, bool all,
                         const std::function<void(HeldSecret&)>& judge) {
  while (!held_.empty() && (all || held_.front().held_at_ns + hold_ns_ <= now_ns)) {
    HeldSecret s = std::move(held_.front());
    held_.pop_front();
    judge(s);
  }
}

bool HeldSecrets::Waiting(uint32_t pid) const {
  for (const auto& h : held_) {
    if (h.key.pid == pid) return true;
  }
  return false;
}

}  // namespace credsentry::pipeline
