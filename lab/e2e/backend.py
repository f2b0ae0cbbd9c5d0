#!/usr/bin/env python3
"""Backend "pods" of Herald's end-to-end lab (stdlib only), one process per node.

usage: backend.py NODE --pod NAME=ADDR[,ADDR...] [--pod ...] [--pod-port 8080]
                  [--service-port 80]

Each pod address answers HTTP on --pod-port. With --service-port, the node also answers
on that port of every address it treats as local (0.0.0.0 and ::), which stands in for
the Service until Herald's proxy serves it: the lab makes the whole pool local on every
node, so a request the router sends to a node that announces the address lands here.

Every answer is one line: "node=NODE pod=NAME local=ADDR:PORT client=ADDR:PORT"
(pod=- on the Service port). GET /healthz answers "ok". GET /stream?ms=N is a long
connection: the same line, then "tick K" every 100 ms for N ms, then "end" and the close
(the steady client of lab/e2e/steady_client.py holds a few of these open).
"""
import argparse
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, family, address, node, pod):
        self.address_family = family
        self.node = node
        self.pod = pod
        super().__init__(address, Handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.server_bind()
        self.server_activate()

    def server_bind(self):
        # HTTPServer.server_bind looks the address up in DNS (getfqdn), which can hang for
        # seconds in a namespace without a resolver; the name is not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        if self.path.startswith("/stream"):
            self.stream()
            return
        if self.path == "/healthz":
            body = "ok\n"
        else:
            local = self.connection.getsockname()
            body = "node=%s pod=%s local=%s client=%s\n" % (
                self.server.node, self.server.pod, endpoint(local), endpoint(self.client_address))
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        duration = int(query.get("ms", ["3000"])[0]) / 1000.0
        local = self.connection.getsockname()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(("node=%s pod=%s local=%s client=%s\n" % (
            self.server.node, self.server.pod, endpoint(local),
            endpoint(self.client_address))).encode())
        self.wfile.flush()
        start, tick = time.monotonic(), 0
        while time.monotonic() - start < duration:
            time.sleep(0.1)
            tick += 1
            self.wfile.write(b"tick %d\n" % tick)
            self.wfile.flush()
        self.wfile.write(b"end\n")

    def log_message(self, format, *args):   # one line per request on stderr is noise
        pass


def endpoint(address):
    host, port = address[0], address[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("node")
    parser.add_argument("--pod", action="append", default=[], metavar="NAME=ADDR[,ADDR]")
    parser.add_argument("--pod-port", type=int, default=8080)
    parser.add_argument("--service-port", type=int)
    args = parser.parse_args()

    listeners = []
    for spec in args.pod:
        name, _, addresses = spec.partition("=")
        for address in filter(None, addresses.split(",")):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            listeners.append(Server(family, (address, args.pod_port), args.node, name))
    if args.service_port:
        listeners.append(Server(socket.AF_INET, ("0.0.0.0", args.service_port), args.node, "-"))
        listeners.append(Server(socket.AF_INET6, ("::", args.service_port), args.node, "-"))
    if not listeners:
        sys.exit("nothing to listen on")
    for server in listeners:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("backend %s listening on %s" % (args.node, " ".join(
        endpoint(s.server_address) for s in listeners)), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
