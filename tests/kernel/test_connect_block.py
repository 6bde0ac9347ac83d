"""Prevent mode blocks what it cannot read (issue 16 item 3): a Java client, whose TLS no probe
reads, that read ~/.aws/credentials is refused its connect (EPERM) to a destination not expected
for AWS credentials; the loopback server sees no connection, and the alert says "blocked". The
same client reaches a destination egress.allow names.

The client is compiled here with javac (openjdk-17-jdk-headless, scripts/install-deps.sh).
"""

import os
import shutil
import socket
import threading
import time

import pytest

from kharness.users import write_aws_credentials

ALERT_TIMEOUT = 5.0

JAVA_CLIENT = r"""
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads the user's AWS credentials, then opens a TCP connection with the JDK's own sockets. */
public class Connect {
    public static void main(String[] args) throws Exception {
        byte[] creds = Files.readAllBytes(
            Path.of(System.getProperty("user.home"), ".aws", "credentials"));
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 5000);
            s.getOutputStream().write(creds.length > 0 ? 'x' : 'y');
            System.out.println("CONNECTED");
        } catch (java.io.IOException e) {
            System.out.println("REFUSED " + e);
            System.exit(3);
        }
    }
}
"""


class CountingServer:
    """A loopback TCP server that counts the connections it accepted."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def server():
    s = CountingServer()
    yield s
    s.close()


@pytest.fixture
def java_client(scratch):
    if shutil.which("javac") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("javac missing: install openjdk-17-jdk-headless (scripts/install-deps.sh)")
        pytest.skip("no JDK")
    src = scratch / "java-connect"
    src.mkdir()
    (src / "Connect.java").write_text(JAVA_CLIENT)
    import subprocess
    subprocess.run(["javac", "-d", str(src), str(src / "Connect.java")], check=True,
                   capture_output=True, timeout=120)
    os.chmod(src, 0o755)
    for f in src.iterdir():
        os.chmod(f, 0o644)
    return ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", str(src), "Connect"]


def _blocked(alert):
    return alert.get("kind") == "tainted-egress" and alert.get("action") == "blocked"


def test_java_that_read_aws_credentials_is_refused_its_connect(
        start_agent, clients, server, java_client, registry, test_user):
    agent = start_agent(extra_args=["--mode", "prevent"])
    write_aws_credentials(test_user, registry)
    result = clients.run(java_client + ["127.0.0.1", str(server.port)], user=test_user,
                         timeout=60, check=False)
    assert result.rc == 3, f"rc {result.rc}: {result.stdout} {result.stderr[-1000:]}"
    assert "Operation not permitted" in result.stdout, result.stdout
    time.sleep(0.3)
    assert server.accepted == 0

    alerts = agent.wait_for_alerts(_blocked, timeout=ALERT_TIMEOUT)
    assert alerts, f"no blocked alert\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["pid"] == result.pid
    assert alert["process"]["comm"] == "java"
    assert alert["destination"]["ip"] == "127.0.0.1"
    assert alert["destination"]["port"] == server.port
    assert alert["secret"]["type"] == "aws-credentials"
    assert "*.amazonaws.com" in alert["destination"]["expected"]
    assert "refused" in alert["summary"] and ".aws/credentials" in alert["summary"]
    deadline = time.time() + 3
    while time.time() < deadline and agent.flat_stats().get("kernel.block_refused", 0) < 1:
        time.sleep(0.2)
    stats = agent.flat_stats()
    assert stats.get("kernel.block_refused", 0) >= 1, stats
    assert stats.get("pipeline.block_refused", 0) >= 1, stats


def test_java_reaches_a_destination_egress_allow_names(
        start_agent, clients, server, java_client, registry, test_user, scratch):
    config = scratch / "agent.yaml"
    config.write_text("mode: prevent\negress:\n  allow: ['127.0.0.0/8']\n")
    agent = start_agent(extra_args=["--config", str(config)])
    write_aws_credentials(test_user, registry)
    result = clients.run(java_client + ["127.0.0.1", str(server.port)], user=test_user,
                         timeout=60, check=False)
    assert result.rc == 0 and "CONNECTED" in result.stdout, (
        f"rc {result.rc}: {result.stdout} {result.stderr[-1000:]}")
    deadline = time.time() + 3
    while time.time() < deadline and server.accepted < 1:
        time.sleep(0.1)
    assert server.accepted == 1
    time.sleep(1.2)
    assert not [a for a in agent.alerts() if _blocked(a)]
    assert agent.flat_stats().get("kernel.block_allowed_egress", 0) >= 1


def test_detect_mode_blocks_nothing(start_agent, clients, server, java_client, registry,
                                    test_user):
    start_agent()
    write_aws_credentials(test_user, registry)
    result = clients.run(java_client + ["127.0.0.1", str(server.port)], user=test_user,
                         timeout=60, check=False)
    assert result.rc == 0 and "CONNECTED" in result.stdout, result.stdout
