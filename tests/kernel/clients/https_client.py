#!/usr/bin/python3
"""Test client: sends one HTTP/1.1 request over TLS the way real Python programs do.

Names are given to 127.0.0.1 inside this process (no /etc/hosts edits): the TCP connection goes
to 127.0.0.1:<port> and TLS uses server_hostname=<name>, so SNI and Host are the name.
Secrets never appear on the command line: headers and body are read from files.

  --mode urllib  urllib.request POST (http.client -> ssl -> SSL_write_ex), like the SDKs
  --threads N    (urllib) N threads in this one process, each sending --repeat requests on
                 connections of its own: many connections per thread, many threads per process
  --mode split   raw ssl socket; the request goes out in two explicit writes, cut at
                 --split-at bytes into the request (or in the middle of the value of header
                 --split-mid-header), with a pause in between
"""

import argparse
import json
import socket
import ssl
import sys
import time
import urllib.request


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("urllib", "split"), required=True)
    p.add_argument("--name", required=True, help="host name for SNI and Host")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--headers-file", help="JSON object of extra request headers")
    p.add_argument("--body-file", required=True)
    p.add_argument("--threads", type=int, default=1, help="urllib: threads sending at once")
    p.add_argument("--repeat", type=int, default=1, help="urllib: requests per thread")
    p.add_argument("--split-at", type=int, default=0, help="byte offset of the cut (split mode)")
    p.add_argument("--split-mid-header", metavar="NAME",
                   help="cut in the middle of this header's value instead (split mode)")
    return p.parse_args()


def map_name_to_loopback(name: str) -> None:
    if getattr(socket.getaddrinfo, "credsentry_name", None) == name:
        return  # already mapped (threads call this once per request)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host == name else host, *args, **kwargs)

    getaddrinfo.credsentry_name = name
    socket.getaddrinfo = getaddrinfo


def send_urllib(args, headers: dict, body: bytes) -> int:
    map_name_to_loopback(args.name)
    context = ssl.create_default_context(cafile=args.cafile)
    request = urllib.request.Request(f"https://{args.name}:{args.port}{args.path}", data=body,
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, context=context, timeout=15) as response:
        response.read()
        return response.status


def send_urllib_threads(args, headers: dict, body: bytes) -> int:
    """Every thread sends --repeat requests; returns 200 only when all of them got 200."""
    import threading
    statuses = []

    def worker():
        for _ in range(args.repeat):
            try:
                statuses.append(send_urllib(args, headers, body))
            except OSError as e:
                print(f"request failed: {type(e).__name__}", file=sys.stderr)
                statuses.append(0)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 200 if statuses and all(s == 200 for s in statuses) else 0


def send_split(args, headers: dict, body: bytes) -> int:
    lines = [f"POST {args.path} HTTP/1.1", f"Host: {args.name}:{args.port}",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    cut = args.split_at
    if args.split_mid_header:
        value = headers[args.split_mid_header].encode()
        cut = request.index(f"\r\n{args.split_mid_header}: ".encode()) + 4 + len(
            args.split_mid_header) + len(value) // 2
    if not 0 < cut < len(request):
        sys.exit(f"--split-at {cut} outside the request (1..{len(request) - 1})")
    context = ssl.create_default_context(cafile=args.cafile)
    with socket.create_connection(("127.0.0.1", args.port), timeout=15) as raw:
        with context.wrap_socket(raw, server_hostname=args.name) as tls:
            tls.sendall(request[:cut])  # one SSL_write_ex call
            time.sleep(0.2)             # the halves are separate records, not coalesced
            tls.sendall(request[cut:])
            response = b""
            while chunk := tls.recv(4096):
                response += chunk
    status_line = response.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) > 1 else 0


def main() -> int:
    args = parse_args()
    headers = {"Content-Type": "application/json"}
    if args.headers_file:
        with open(args.headers_file) as f:
            headers.update(json.load(f))
    with open(args.body_file, "rb") as f:
        body = f.read()
    if args.mode == "split":
        status = send_split(args, headers, body)
    elif args.threads > 1 or args.repeat > 1:
        status = send_urllib_threads(args, headers, body)
    else:
        status = send_urllib(args, headers, body)
    print(f"status {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
