#!/usr/bin/env python3
"""A steady client for Herald's end-to-end lab (stdlib only): opens a new connection to a
Service every --interval-ms and keeps --long long connections open, counting failures,
until its stdin closes (or SIGTERM); then prints one JSON summary on stdout.

usage: steady_client.py ADDR PORT [--tls NAME --cacert FILE] [--interval-ms 10]
                        [--long 6] [--long-ms 3000] [--timeout 2]

Short connections: connect, "GET / HTTP/1.0", read the answer to the close; it must be
"200" with a "node=" line (lab/e2e/backend.py), else the attempt failed (refused, reset,
timed out, short answer). Each attempt runs on a thread of its own, so a stalled one never
delays the next. Long connections: "GET /stream?ms=N" (backend.py sends a tick every
100 ms and "end"); one that breaks before "end" failed; a finished one is replaced at
once, so --long of them are open at any time.

Summary: attempts, failed, failures (when each started and ended, in ms since the
client's start at start_unix_ms, and the error), the longest
gap between two successful short connections in ms, answers per node, and the long
connections: started, finished, failed, failures (with the node that served them).
"""
import argparse
import json
import signal
import socket
import ssl
import sys
import threading
import time

START = time.monotonic()
START_UNIX_MS = time.time() * 1000.0


def now_ms():
    return round((time.monotonic() - START) * 1000.0, 1)


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = 0
        self.failures = []
        self.ok_starts = []
        self.nodes = {}
        self.long_started = 0
        self.long_finished = 0
        self.long_failures = []

    def short(self, started, error, node):
        with self.lock:
            if error is None:
                self.ok_starts.append(started)
                self.nodes[node] = self.nodes.get(node, 0) + 1
            else:
                self.failures.append({"at_ms": started, "end_ms": now_ms(), "error": error})

    def summary(self):
        with self.lock:
            starts = sorted(self.ok_starts)
            gaps = [b - a for a, b in zip(starts, starts[1:])]
            return {
                "start_unix_ms": round(START_UNIX_MS, 1),
                "attempts": self.attempts,
                "failed": len(self.failures),
                "failures": self.failures[:50],
                "longest_gap_ms": round(max(gaps), 1) if gaps else None,
                "nodes": self.nodes,
                "long": {
                    "started": self.long_started,
                    "finished": self.long_finished,
                    "failed": len(self.long_failures),
                    "failures": self.long_failures[:50],
                },
            }


def open_connection(args, context):
    sock = socket.create_connection((args.addr, args.port), timeout=args.timeout)
    if context is None:
        return sock
    return context.wrap_socket(sock, server_hostname=args.tls)


def request(conn, path, host):
    conn.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())


def read_to_close(conn, seen=None):
    """Everything `conn` sends until it closes; `seen["node"]` gets the answering node as
    soon as its line has arrived (so a stream cut short still says where it ran)."""
    data = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
        if seen is not None and "node" not in seen and b"node=" in data:
            seen["node"] = data.split(b"node=", 1)[1].split()[0].decode()


def short_attempt(args, context, results):
    started = now_ms()
    error, node = None, None
    try:
        conn = open_connection(args, context)
        try:
            request(conn, "/", args.tls or args.addr)
            data = read_to_close(conn)
        finally:
            conn.close()
        text = data.decode(errors="replace")
        if not text.startswith("HTTP/1.") or " 200 " not in text.split("\r\n", 1)[0]:
            error = "bad answer: %r" % text[:80]
        elif "node=" not in text:
            error = "answer without node=: %r" % text[:80]
        else:
            node = text.split("node=", 1)[1].split()[0]
    except Exception as exc:  # every failure counts, whatever its kind
        error = "%s: %s" % (type(exc).__name__, exc)
    results.short(started, error, node)


def long_connection(args, context, results, stop):
    while not stop.is_set():
        with results.lock:
            results.long_started += 1
        started = now_ms()
        error, seen = None, {}
        try:
            conn = open_connection(args, context)
            conn.settimeout(args.timeout + 1)
            try:
                request(conn, "/stream?ms=%d" % args.long_ms, args.tls or args.addr)
                data = read_to_close(conn, seen)
            finally:
                conn.close()
            if not data.rstrip().endswith(b"end"):
                error = "stream cut short after %d bytes" % len(data)
        except Exception as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        with results.lock:
            if error is None:
                results.long_finished += 1
            else:
                results.long_failures.append({"started_ms": started, "at_ms": now_ms(),
                                              "node": seen.get("node"), "error": error})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addr")
    parser.add_argument("port", type=int)
    parser.add_argument("--tls", metavar="NAME", help="TLS with this server name (SNI)")
    parser.add_argument("--cacert")
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--long", type=int, default=6)
    parser.add_argument("--long-ms", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.create_default_context(cafile=args.cacert)

    results = Results()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    longs = [threading.Thread(target=long_connection, args=(args, context, results, stop))
             for _ in range(args.long)]
    for t in longs:
        t.start()
    shorts = []
    interval = args.interval_ms / 1000.0
    next_at = time.monotonic()
    print("steady client: %s:%d every %.0f ms, %d long connections" % (
        args.addr, args.port, args.interval_ms, args.long), file=sys.stderr, flush=True)
    while not stop.is_set():
        with results.lock:
            results.attempts += 1
        t = threading.Thread(target=short_attempt, args=(args, context, results))
        t.start()
        shorts.append(t)
        shorts = [s for s in shorts if s.is_alive()]
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    for t in shorts + longs:
        t.join()
    json.dump(results.summary(), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
