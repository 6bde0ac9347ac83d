"""io_uring is seen like the syscalls it replaces (issue 14 item 3).

A small C client on liburing (clients/uring_client.c) opens and reads ~/.aws/credentials,
creates a socket, connects to a loopback server and sends the file in an HTTP POST, every step an
io_uring request (the "curing" way). The agent must raise the alert a read() and send() would:
the process, the destination, the credential file read, the secret found in the bytes, and say
the bytes went through io_uring. A registered (fixed) socket cannot be followed and is counted;
a client outside the cgroup leaves no record at all. The leak check runs at teardown.
"""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from kharness import env
from kharness.servers import sha256
from kharness.users import write_aws_credentials

ALERT_TIMEOUT = 6.0


@pytest.fixture(scope="module")
def uring_client():
    # Not under pytest's tmp_path: that is 0700 root, and the client runs as the test user.
    work = Path(tempfile.mkdtemp(prefix="credsentry-kt-uring-"))
    work.chmod(0o755)
    out = work / "uring_client"
    build = subprocess.run(["gcc", "-O2", "-Wall", "-o", str(out),
                            str(env.CLIENTS / "uring_client.c"), "-luring"],
                           capture_output=True, text=True)
    assert build.returncode == 0, f"building uring_client failed (liburing-dev?):\n{build.stderr}"
    yield out
    shutil.rmtree(work, ignore_errors=True)


def _run(clients, test_user, uring_client, mode, creds, server, **kw):
    result = clients.run([str(uring_client), mode, str(creds), str(server.port)], user=test_user,
                         **kw)
    [req] = server.wait_for_requests(1)
    assert req.body_sha256 == sha256(creds.read_bytes()), "the file did not reach the server"
    return result


# "close": the file is closed through the ring before the socket is made, so the socket gets the
# file's fd number and must not be taken for the credential file.
@pytest.mark.parametrize("mode", ["send", "sendmsg", "write", "writev", "sqpoll", "close"])
def test_a_credential_file_sent_through_io_uring_alerts_like_a_syscall_send(
        mode, uring_client, test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    result = _run(clients, test_user, uring_client, mode, creds, http_server)
    alerts = agent.wait_for_alerts(lambda a: a["process"]["pid"] == result.pid,
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for io_uring {mode}\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["comm"] == "uring_client", agent.redacted(alert)
    assert alert["process"]["uid"] == test_user.uid
    assert alert["destination"]["ip"] == "127.0.0.1", agent.redacted(alert)
    assert alert["destination"]["port"] == http_server.port, agent.redacted(alert)
    assert alert["secret"]["type"].startswith("aws"), agent.redacted(alert)
    assert alert["secret"]["found_in"] == "io-uring-send", agent.redacted(alert)
    # The open and the read went through the ring too, and were seen as the file's read.
    reads = alert["evidence"]["credential_reads"]
    assert any(r["path"] == str(creds) and r["pid"] == result.pid for r in reads), (
        agent.redacted(alert))


def test_a_send_on_a_fixed_file_is_counted(
        uring_client, test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    _run(clients, test_user, uring_client, "fixed", creds, http_server)
    assert agent.wait_for_counter("kernel.uring_fixed_file", 1), agent.diagnostics()
    assert agent.running(), agent.diagnostics()


def test_an_io_uring_client_outside_the_cgroup_leaves_no_record(
        uring_client, test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    outside = _run(clients, test_user, uring_client, "send", creds, http_server,
                   in_cgroup=False)
    time.sleep(2.0)
    assert agent.alerts() == [], agent.redacted(agent.alerts())
    leaked = [e for e in agent.trace_events()
              if outside.pid in (e.get("pid"), e.get("tid"), e.get("ppid"))]
    assert leaked == [], f"{len(leaked)} kernel records of pid {outside.pid} reached user space"


def test_prevent_mode_refuses_the_connect_of_a_process_that_read_a_credential_through_the_ring(
        uring_client, test_user, start_agent, clients, http_server, registry):
    # The read completes through io_uring, and the taint must still be in the kernel by the
    # connect, also made through the ring (cgroup connect4 runs for it as for connect(2)).
    agent = start_agent(extra_args=["--mode", "prevent"])
    creds = write_aws_credentials(test_user, registry)
    result = clients.run([str(uring_client), "send", str(creds), str(http_server.port)],
                         user=test_user, check=False)
    assert result.rc == 2, f"exited {result.rc}\n{agent.diagnostics()}"
    assert "connect: Operation not permitted" in result.stderr, result.stderr
    time.sleep(0.5)
    assert http_server.requests == [], "the request reached the server"
    assert agent.wait_for_counter("block_refused", 1), agent.diagnostics()
    alerts = agent.wait_for_alerts(lambda a: a.get("action") == "blocked", timeout=ALERT_TIMEOUT)
    assert alerts and alerts[0]["process"]["comm"] == "uring_client", agent.diagnostics()
