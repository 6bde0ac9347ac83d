"""A DNS server for kernel tests, on a random 127.53.x.y address, port 53, over UDP and TCP.

It runs in the test process, outside the test cgroup. Clients reach it either directly (a
socket sending to `address`) or through glibc, in a private mount namespace whose
/etc/resolv.conf names it (`resolv_conf` + `with_resolver`), so the host's resolver
configuration is never touched.
"""

import secrets
import socket
import struct
import threading

TTL = 30


def _qname(packet: bytes) -> tuple[str, int, int]:
    """Question name, qtype and the offset after the question of a query."""
    at, labels = 12, []
    while packet[at]:
        n = packet[at]
        labels.append(packet[at + 1:at + 1 + n].decode("ascii", "replace"))
        at += 1 + n
    qtype = struct.unpack("!H", packet[at + 1:at + 3])[0]
    return ".".join(labels), qtype, at + 5


class DnsServer:
    """Answers A queries for the names it knows (AAAA ones for names mapped to an IPv6 address),
    the other type with no records, the rest NXDOMAIN; over UDP and over TCP (2-byte length
    prefix), on the same address."""

    def __init__(self, names: dict[str, str]):
        self.names = {k.lower(): v for k, v in names.items()}
        self.queries: list[str] = []
        self.address = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, 53))
        self.sock.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.address, 53))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.tcp_queries = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._tcp_thread = threading.Thread(target=self._serve_tcp, daemon=True)
        self._tcp_thread.start()

    def _serve_tcp(self):
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    while True:  # glibc may ask A and AAAA on one connection
                        head = conn.recv(2, socket.MSG_WAITALL)
                        if len(head) < 2:
                            break
                        packet = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                        self.tcp_queries += 1
                        answer = self._answer(packet)
                        conn.sendall(struct.pack("!H", len(answer)) + answer)
                except (IndexError, struct.error, OSError):
                    continue

    def _serve(self):
        while not self._stop:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(packet), peer)
            except (IndexError, struct.error, OSError):
                continue

    def _answer(self, packet: bytes) -> bytes:
        name, qtype, end = _qname(packet)
        self.queries.append(name)
        ip = self.names.get(name.lower())
        rcode = 0 if ip else 3  # NXDOMAIN for names it does not know
        answers = b""
        if ip and qtype == 1 and ":" not in ip:
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, TTL, 4) + socket.inet_aton(ip))
        elif ip and qtype == 28 and ":" in ip:
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, TTL, 16) +
                       socket.inet_pton(socket.AF_INET6, ip))
        header = packet[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
        return header + packet[12:end] + answers

    def resolv_conf(self, scratch, tcp: bool = False) -> str:
        path = scratch / "resolv.conf"
        options = "timeout:2 attempts:2" + (" use-vc" if tcp else "")
        path.write_text(f"nameserver {self.address}\noptions {options}\n")
        path.chmod(0o644)
        return str(path)

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self._tcp_thread.join(timeout=2)
        self.sock.close()
        self.tcp.close()


def with_resolver(resolv_conf: str, argv: list[str]) -> list[str]:
    """argv run in a private mount namespace whose /etc/resolv.conf is `resolv_conf`."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, resolv_conf,
            *argv]
