#!/usr/bin/python3
"""Real-kernel smoke test of the probes, through tools/cs-events (root; run with /usr/bin/python3).

Creates a cgroup v2 under /sys/fs/cgroup/unified, starts cs-events scoped to it, runs clients
inside it (cat of credential files, curl over HTTPS with SNI, Python ssl/urllib, wget over GnuTLS,
plain TCP, sendmsg, UDP, a plain HTTP POST with curl) and the same kind of work outside it, then
checks the records cs-events printed. A second run starts cs-events without CAP_SYS_ADMIN (uprobes
refused): it must still start, say which TLS libraries it could not hook, and see the rest. Payloads are random bytes generated here; only SHA-256 prefixes are
compared. Servers run in this (unscoped) process, so they add no records.

usage: cs-events-smoke.py BUILD_DIR
"""
import ctypes, hashlib, os, re, signal, socket, ssl, subprocess, sys, tempfile, threading, time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
CS_EVENTS = os.path.join(BUILD, "tools", "cs-events")
CG_ROOT = "/sys/fs/cgroup/unified"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sha(b):
    return hashlib.sha256(b).hexdigest()[:16]


class Server(threading.Thread):
    """Accepts connections on 127.0.0.1; answers HTTP requests, swallows anything else."""

    def __init__(self, ctx=None):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.ctx = ctx

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            if self.ctx:
                conn = self.ctx.wrap_socket(conn, server_side=True)
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data[:4] in (b"POST", b"GET ") and b"\r\n\r\n" in data:
                    head, _, body = data.partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if len(body) >= (int(m.group(1)) if m else 0):
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                        break
        except OSError:
            pass
        finally:
            conn.close()


def wait_ready(proc, log):
    for _ in range(600):
        log.seek(0)
        if "# ready" in log.read() or proc.poll() is not None:
            break
        time.sleep(0.1)
    log.seek(0)
    return "# ready" in log.read()


def parse(lines):
    recs = [dict(kv.split("=", 1) for kv in l.split()[1:] if "=" in kv) | {"type": l.split()[0]}
            for l in lines if l and not l.startswith("#") and "=" in l and l.split()[0].isupper()]
    counters = dict(l.split()[2:4] for l in lines if l.startswith("# counter"))
    return recs, counters


# Capabilities of an agent on a host that refuses uprobes: BPF and perf, no CAP_SYS_ADMIN.
SETPRIV_NO_SYS_ADMIN = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                        "--bounding-set=-all,+bpf,+perfmon,+sys_ptrace,+dac_read_search",
                        "--no-new-privs"]


def restricted_run(tmp, cred, tls_port):
    """cs-events without CAP_SYS_ADMIN: uprobes fail, the tracepoint path must still work."""
    cg = os.path.join(CG_ROOT, "cs-h8-nocap-%d" % os.getpid())
    os.mkdir(cg)
    proc = None
    try:
        log = open(os.path.join(tmp, "nocap.log"), "w+")
        proc = subprocess.Popen(SETPRIV_NO_SYS_ADMIN + [CS_EVENTS, "--cgroup", cg, "--cred-file", cred + "=7"],
                                stdout=log, stderr=subprocess.STDOUT)
        check(wait_ready(proc, log), "without CAP_SYS_ADMIN: cs-events still loads and attaches")
        run_in(cg, ["cat", cred])
        run_in(cg, ["curl", "-sk", "--resolve", "nocap.cs-test:%d:127.0.0.1" % tls_port,
                    "https://nocap.cs-test:%d/nocap" % tls_port, "-d", "x=1"])
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
        log.seek(0)
        text = log.read()
        recs, _ = parse(text.splitlines())
        check(rc == 0, "without CAP_SYS_ADMIN: clean exit (rc %d)" % rc)
        failed = [l for l in text.splitlines() if l.startswith("# tls-library-failed")]
        check(any("libssl" in l for l in failed), "without CAP_SYS_ADMIN: libssl reported as not hooked")
        check("TLS plaintext capture unavailable for" in text and "ClientHello SNI" in text,
              "without CAP_SYS_ADMIN: one clear warning per TLS library")
        check(any(r["type"] == "CRED_OPEN" and r.get("cred_id") == "7" for r in recs),
              "without CAP_SYS_ADMIN: credential file open still seen")
        check(any(r["type"] == "SOCK_DATA" and r.get("comm") == "curl" and r.get("state") == "2" for r in recs),
              "without CAP_SYS_ADMIN: curl's ClientHello still copied (SNI for the destination)")
        check(not [r for r in recs if r["type"] == "TLS_DATA"], "without CAP_SYS_ADMIN: no TLS_DATA (no uprobes)")
        if failures:
            print(text[-4000:])
    finally:
        if proc and proc.poll() is None:
            proc.kill(); proc.wait()
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)


def run_in(cgroup, args, **kw):
    """Runs args with the child placed in `cgroup` (None = stay outside) before exec."""
    def enter():
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    return subprocess.run(args, preexec_fn=enter, capture_output=True, timeout=30, **kw)


PY_CLIENT = r'''
import ctypes, socket, ssl, sys, urllib.request
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME: comm to match on
tls_port, plain_port, udp_port, payload_path, cred = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
payload = open(payload_path, "rb").read()
open(cred, "rb").read()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
urllib.request.urlopen(urllib.request.Request("https://127.0.0.1:%d/u" % tls_port, data=b"x=1"), context=ctx).read()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="py.cs-test")
s.sendall(payload); s.close()
p = socket.create_connection(("127.0.0.1", plain_port)); p.sendall(payload)
p.sendmsg([payload[:100], payload[100:300]])
p.sendall(payload + payload + payload[:20000])  # 100000 bytes: more than 4 chunks
p.sendmsg([payload[:10]] * 6); p.close()  # 6 iovecs: 4 copied, 2 counted as skipped
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("127.0.0.1", udp_port)); u.send(payload[:60]); u.close()
'''


def main():
    tmp = tempfile.mkdtemp(prefix="cs-smoke-")
    cg = os.path.join(CG_ROOT, "cs-h1-smoke-%d" % os.getpid())
    os.mkdir(cg)
    proc = None
    try:
        # Synthetic credential files and payloads, random each run.
        os.makedirs(os.path.join(tmp, ".aws"))
        cred = os.path.join(tmp, ".aws", "credentials")
        cred_bytes = b"[default]\naws_secret_access_key = " + os.urandom(30).hex().encode() + b"\n"
        open(cred, "wb").write(cred_bytes)
        os.symlink(".aws/credentials", os.path.join(tmp, "link"))
        os.link(cred, os.path.join(tmp, "hardlink"))  # another name, same inode
        payload = os.urandom(40000)
        wget_body = "token=" + os.urandom(24).hex()
        payload_path = os.path.join(tmp, "payload.bin")
        open(payload_path, "wb").write(payload)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=cs-test.local", "-keyout", tmp + "/k.pem", "-out", tmp + "/c.pem"],
                       check=True, capture_output=True)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(tmp + "/c.pem", tmp + "/k.pem")
        tls, plain = Server(sctx), Server()
        tls.start(); plain.start()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))

        log = open(os.path.join(tmp, "events.log"), "w+")
        proc = subprocess.Popen([CS_EVENTS, "--cgroup", cg, "--cred-file", cred + "=1",
                                 "--cred-name", "cs-secrets/token.json=2"], stdout=log, stderr=subprocess.STDOUT)
        check(wait_ready(proc, log), "cs-events loaded and attached")

        # A credential file created after start-up: matched by (parent, name).
        os.makedirs(os.path.join(tmp, "cs-secrets"))
        token = os.path.join(tmp, "cs-secrets", "token.json")
        token_bytes = b'{"token": "' + os.urandom(20).hex().encode() + b'"}'
        open(token, "wb").write(token_bytes)

        inside = [
            ["cat", cred],
            ["sh", "-c", "cd %s && cat ./link && true" % tmp],  # sh forks cat: FORK in scope
            ["cat", os.path.join(tmp, "hardlink")],
            ["cat", token],
            ["curl", "-sk", "--resolve", "cs-test.local:%d:127.0.0.1" % tls.port,
             "https://cs-test.local:%d/upload" % tls.port, "--data-binary", "@" + payload_path],
            ["curl", "-s", "http://127.0.0.1:%d/plain" % plain.port, "-d", "plain=1"],
            # GnuTLS. "localhost" (not an IP) so wget sends an SNI in its ClientHello.
            ["wget", "-q", "-O", "/dev/null", "--inet4-only", "--no-check-certificate",
             "--post-data", wget_body, "https://localhost:%d/wget" % tls.port],
            ["/usr/bin/python3", "-c", PY_CLIENT, "inside-py", str(tls.port), str(plain.port),
             str(udp.getsockname()[1]), payload_path, cred],
        ]
        for args in inside:
            r = run_in(cg, args)
            check(r.returncode == 0, "inside client ran: %s (rc %d %s)" % (args[0], r.returncode, r.stderr[-200:]))
        r = run_in(None, ["/usr/bin/python3", "-c", PY_CLIENT, "outside-py", str(tls.port), str(plain.port),
                          str(udp.getsockname()[1]), payload_path, cred])
        check(r.returncode == 0, "outside client ran")
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        log.seek(0)
        lines = log.read().splitlines()
        recs, counters = parse(lines)

        def find(**want):
            return [r for r in recs if all(r.get(k) == v for k, v in want.items())]

        opens = find(type="CRED_OPEN", comm="cat")
        check(len([o for o in opens if o["cred_id"] == "1"]) == 3, "cat of the credential file, direct, via a relative symlink and via a hard link: 3 CRED_OPEN cred_id=1")
        check(any(o["path"].endswith("/.aws/credentials") and o["path"].startswith(tmp) for o in opens), "CRED_OPEN path rebuilt from dentries: " + str([o["path"] for o in opens][:1]))
        check(len([o for o in opens if o["cred_id"] == "2" and o["path"].endswith("cs-secrets/token.json")]) == 1, "file created after start matched by name: CRED_OPEN cred_id=2")
        check(len(find(type="CRED_READ", comm="cat", sha256=sha(cred_bytes))) == 3, "CRED_READ bytes equal the file (sha256 %s)" % sha(cred_bytes))
        check(len(find(type="CRED_READ", comm="cat", sha256=sha(token_bytes))) == 1, "CRED_READ of the name-matched file")
        check(len(find(type="CLOSE", comm="cat", kind="1")) >= 3, "CLOSE of credential fds")

        sni = find(type="TLS_SNI", comm="curl", sni="cs-test.local")
        check(len(sni) == 1, "curl: TLS_SNI cs-test.local")
        ctls = find(type="TLS_DATA", comm="curl")
        check(len(ctls) >= 2 and all(int(r["fd"]) >= 0 for r in ctls), "curl: TLS_DATA records carry the socket fd")
        check(bool(sni) and all(r["ssl"] == sni[0]["ssl"] for r in ctls), "curl: TLS_DATA ssl matches the SNI's ssl")
        check(any(r["sha256"] == sha(payload[:16384]) for r in ctls) or
              sum(int(r["len"]) for r in ctls) >= 40000, "curl: TLS plaintext of the upload captured")
        csock = find(type="SOCK_DATA", comm="curl", state="2")
        check(len(csock) == 1 and int(csock[0]["total"]) > 100, "curl HTTPS: only the ClientHello crosses as socket data (%d records)" % len(csock))
        check(len(find(type="CONNECT", comm="curl", port=str(tls.port))) == 1, "curl: CONNECT to the TLS port")
        check(any(r for r in find(type="SOCK_DATA", comm="curl", state="1") if r["fd"]), "curl plain HTTP POST: SOCK_DATA state=plain")

        wtls = find(type="TLS_DATA", comm="wget")
        check(bool(wtls) and all(r["lib"] == "2" and int(r["fd"]) >= 0 for r in wtls),
              "wget: TLS_DATA from gnutls_record_send (lib=2) carries the socket fd")
        check(any(r["sha256"] == sha(wget_body.encode()) for r in wtls), "wget --post-data: the body's plaintext captured exactly")
        check(len({r["ssl"] for r in wtls}) == 1, "wget: one GnuTLS session for all its writes")
        whello = find(type="SOCK_DATA", comm="wget", state="2")
        check(len(whello) == 1 and bool(wtls) and whello[0]["fd"] == wtls[0]["fd"],
              "wget: its ClientHello (SNI source) crosses once, on the fd of its TLS_DATA")
        py = find(type="TLS_DATA", comm="inside-py")
        check(any(r["sha256"] == sha(b"x=1") or int(r["len"]) > 50 for r in py), "python urllib over https (SSL_write_ex): TLS_DATA")
        chunks = [sha(payload[0:16384]), sha(payload[16384:32768]), sha(payload[32768:40000])]
        got = [r for r in py if r["sha256"] in chunks]
        check(len(got) == 3 and [r["off"] for r in got] == ["0", "16384", "32768"] and got[-1]["flags"] == "1",
              "python sendall(40000) over TLS: 3 chunks with exact bytes, offsets, LAST flag")
        check(len(find(type="TLS_SNI", comm="inside-py", sni="py.cs-test")) == 1, "python: TLS_SNI py.cs-test")
        plain_py = find(type="SOCK_DATA", comm="inside-py", state="1", kind="2")
        check(any(r["sha256"] == chunks[0] for r in plain_py), "python plain TCP sendall: SOCK_DATA chunk 0 exact")
        check(any(r["sha256"] == sha(payload[:100]) for r in plain_py) and any(r["sha256"] == sha(payload[100:300]) and r["off"] == "100" for r in plain_py), "sendmsg with 2 iovecs: one record per iovec, offsets right")
        big = [r for r in plain_py if r["total"] == "100000"]
        check(len(big) == 4 and big[-1]["flags"] == "3" and int(counters.get("truncated_socket_write", "0")) >= 1,
              "100000-byte write: 4 records of 16384, last flagged LAST|TRUNCATED, truncation counted")
        six = [r for r in plain_py if r["total"] == "60"]
        check(len(six) == 4 and int(counters.get("iovecs_skipped", "0")) == 2, "sendmsg with 6 iovecs: 4 records, 2 iovecs counted as skipped")
        check(len(find(type="SOCK_DATA", comm="inside-py", kind="3", sha256=sha(payload[:60]))) == 1, "UDP send on a connected socket: SOCK_DATA kind=udp")
        check(len(find(type="EXEC", comm="cat")) >= 3 and len(find(type="EXIT", comm="cat")) >= 3, "EXEC/EXIT of the cats")
        check(len(find(type="FORK", comm="sh")) == 1, "FORK of cat by the in-scope sh (threads and out-of-scope parents: none)")

        check(not [r for r in recs if r.get("comm") == "outside-py"], "process outside the cgroup: no records")
        check(int(counters.get("out_of_scope_tls", "0")) > 0, "out_of_scope_tls counted (%s)" % counters.get("out_of_scope_tls"))
        check(int(counters.get("ringbuf_drop_control", "1")) == 0 and int(counters.get("ringbuf_drop_data", "1")) == 0, "no ring buffer drops")
        print("records: %d; counters: %s" % (len(recs), counters))
        if failures:
            print("\n".join(lines[-80:]))
        restricted_run(tmp, cred, tls.port)
    finally:
        if proc and proc.poll() is None:
            proc.kill(); proc.wait()
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run(["rm", "-rf", tmp])
    print("FAILED: %d" % len(failures) if failures else "ALL PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
