// Prevent mode in the pipeline: the kill of a held sender, the release of the rest, and the
// anchors the kernel holds on (prevent_gate.h says the protocol).
#include "common/log.h"
#include "pipeline/pipeline.h"

namespace credsentry::pipeline {

void Pipeline::SetPrevent(bool on, std::vector<PreventAllow> allow) {
  prevent_on_ = on;
  prevent_allow_ = std::move(allow);
  anchored_values_ = SIZE_MAX;  // recomputed on the next settle
  if (!on) {
    for (uint32_t pid : prevent_.TakeAll()) {
      if (kernel_) kernel_->ReleaseHeld(pid);
    }
  } else {
    SettleHolds(0);
  }
}

alert::Action Pipeline::StopSender(const stream::StreamContext& ctx, const std::string& kind_id,
                                  const detect::ResolvedDestination& dest, bool& fresh) {
  fresh = false;
  if (!prevent_on_ || !kernel_) return alert::Action::kObserved;
  const bool held = prevent_.Holding(ctx.pid);
  if (auto before = prevent_.KilledBefore(ctx.pid); !held && before) return *before;
  const state::Process* p = processes_.Find(ctx.pid);
  // Not held and exited (or never known): its pid may be someone else's by now.
  if (!held && (!p || p->exited)) return alert::Action::kObserved;
  const std::string exe = p ? p->exe : "";
  for (const auto& rule : prevent_allow_) {
    if (rule.Matches(ctx.comm, exe, dest.where.host, dest.where.ip, kind_id)) {
      // Counted and logged once per hold, or per process for unheld writes.
      if (held ? !prevent_.MarkExempted(ctx.pid) : !prevent_.ExemptedAfterSend(ctx.pid)) {
        return alert::Action::kObserved;
      }
      spdlog::warn("prevent: pid {} ({}) not killed: an allow rule exempts it ({} to {})",
                   ctx.pid, ctx.comm, kind_id,
                   dest.where.host.empty() ? dest.where.ip : dest.where.host);
      return alert::Action::kObserved;
    }
  }
  const bool ok = kernel_->KillHeld(ctx.pid);
  if (held) {
    prevent_.Killed(ctx.pid, ok);
  } else {
    prevent_.KilledAfterSend(ctx.pid, ok);
  }
  if (!ok) {
    spdlog::warn("prevent: could not kill pid {} ({}): it had already gone", ctx.pid, ctx.comm);
    return alert::Action::kObserved;
  }
  fresh = true;
  if (held) {
    spdlog::warn("prevent: killed pid {} ({}) before its TLS write of a {} left it", ctx.pid,
                 ctx.comm, kind_id);
    return alert::Action::kKilled;
  }
  spdlog::warn("prevent: killed pid {} ({}) after its {} write of a {} had left it (not held: "
               "{})", ctx.pid, ctx.comm, ctx.origin == stream::StreamOrigin::kTls ? "TLS" : "plain",
               kind_id, ctx.origin == stream::StreamOrigin::kTls ? "no anchor in the write"
                                                                 : "plain sockets cannot be held");
  return alert::Action::kKilledAfterSend;
}

void Pipeline::SettleHolds(uint64_t now_mono_ns) {
  if (prevent_on_ && kernel_ && db_) {
    const auto known = learner_.known_values()->Current();
    const size_t values = known ? known->values().size() : 0;
    if (values != anchored_values_) {
      PreventAnchorSources sources;
      for (const auto& kind : db_->rules().kinds) sources.patterns.push_back(kind.pattern);
      if (known) {
        for (const auto& v : known->values()) sources.known_values.push_back(v->value);
      }
      kernel_->SetPreventAnchors(PreventAnchors(sources));
      anchored_values_ = values;
    }
  }
  if (prevent_.empty() || now_mono_ns == 0) return;
  for (uint32_t pid : prevent_.Due(now_mono_ns, [&](uint32_t p) { return held_.Waiting(p); })) {
    if (kernel_) kernel_->ReleaseHeld(pid);
  }
}

}  // namespace credsentry::pipeline
