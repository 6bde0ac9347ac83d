#include "report/alert_proto.h"

#include "credsentry/v1/alert.pb.h"
#include "report/alert_names.h"

namespace credsentry::report {
namespace {

void SetPod(const alert::KubePodInfo& pod, v1::KubePod* out) {
  out->set_uid(pod.uid);
  out->set_name(pod.name);
  out->set_namespace_(pod.ns);
}

void SetCiJob(const alert::CiInfo& ci, v1::CiJob* out) {
  out->set_provider(ci.provider);
  out->set_repository(ci.repository);
  out->set_workflow(ci.workflow);
  out->set_run_id(ci.run_id);
  out->set_job(ci.job);
}

}  // namespace

void ToProto(const alert::Alert& a, v1::Alert* out) {
  out->set_id(a.id);
  out->set_time_ns(a.time_ns);
  out->set_kind(a.kind);
  out->set_severity(static_cast<v1::Severity>(static_cast<int>(a.severity) + 1));
  out->set_summary(a.summary);
  out->set_action(std::string(ActionName(a.action)));
  out->set_host(a.host);
  auto* p = out->mutable_process();
  p->set_pid(a.process.pid);
  p->set_ppid(a.process.ppid);
  p->set_uid(a.process.uid);
  p->set_comm(a.process.comm);
  p->set_exe(a.process.exe);
  p->set_cmdline(a.process.cmdline);
  for (const auto& anc : a.process.ancestors) {
    auto* x = p->add_ancestors();
    x->set_pid(anc.pid);
    x->set_comm(anc.comm);
    x->set_exe(anc.exe);
    x->set_cmdline(anc.cmdline);
  }
  p->set_cgroup(a.process.cgroup);
  p->set_container(a.process.container);
  for (const auto& name : a.process.credential_env) p->add_credential_env(name);
  p->set_systemd_unit(a.process.systemd_unit);
  if (!a.process.pod.empty()) SetPod(a.process.pod, p->mutable_pod());
  if (!a.ci.provider.empty()) SetCiJob(a.ci, out->mutable_ci());
  if (a.target.pid != 0) {
    auto* t = out->mutable_target();
    t->set_pid(a.target.pid);
    t->set_uid(a.target.uid);
    t->set_comm(a.target.comm);
    t->set_exe(a.target.exe);
    t->set_access(a.target.access);
    for (const auto& name : a.target.credential_env) t->add_credential_env(name);
    t->set_in_scope(a.target.in_scope);
    t->set_container(a.target.container);
    if (!a.target.pod.empty()) SetPod(a.target.pod, t->mutable_pod());
    t->set_systemd_unit(a.target.systemd_unit);
    if (!a.target.ci.provider.empty()) SetCiJob(a.target.ci, t->mutable_ci());
  }
  auto* s = out->mutable_secret();
  s->set_type(a.secret.type);
  s->set_provider(a.secret.provider);
  s->set_name(a.secret.name);
  s->set_redacted(a.secret.redacted);
  s->set_fingerprint(a.secret.fingerprint);
  s->set_found_in(std::string(FoundInName(a.secret.found_in)));
  auto* d = out->mutable_destination();
  d->set_host(a.destination.host);
  d->set_ip(a.destination.ip);
  d->set_port(a.destination.port);
  d->set_transport(std::string(TransportName(a.destination.transport)));
  d->set_name_source(std::string(NameSourceName(a.destination.name_source)));
  for (const auto& e : a.destination.expected) d->add_expected(e);
  if (const auto& via = a.destination.via) {
    auto* hop = d->mutable_via();
    hop->set_kind(std::string(ProxyKindName(via->kind)));
    hop->set_host(via->host);
    hop->set_ip(via->ip);
    hop->set_port(via->port);
  }
  auto* ev = out->mutable_evidence();
  for (const auto& r : a.evidence.credential_reads) {
    auto* x = ev->add_credential_reads();
    x->set_path(r.path);
    x->set_pid(r.pid);
    x->set_comm(r.comm);
    x->set_time_ns(r.time_ns);
  }
  for (const auto& step : a.evidence.decoding) ev->add_decoding(step);
  for (const auto& note : a.evidence.notes) ev->add_notes(note);
}

}  // namespace credsentry::report
