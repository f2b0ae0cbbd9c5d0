"""Backends for the proxy's tests.

backend.py http NAME HOST PORT  -- HTTP/1.1 (keep-alive) server answering "NAME\n"
backend.py proxy HOST PORT      -- reads a PROXY protocol v1 or v2 header, then an HTTP
                                   request, and answers with the header as it understood
                                   it: "v1 TCP4 SRC DST SPORT DPORT" or "v2 TCP6 ..."
"""
import http.server
import ipaddress
import socket
import socketserver
import struct
import sys

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def http_backend(name, host, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = (name + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        address_family = family(host)
        allow_reuse_address = True
        daemon_threads = True

    Server((host, port), Handler).serve_forever()


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def parse_header(conn):
    start = read_exact(conn, 12)
    if start == SIGNATURE:
        command, fam, length = struct.unpack("!BBH", read_exact(conn, 4))
        block = read_exact(conn, length)
        if fam == 0x11:
            src, dst = ipaddress.IPv4Address(block[0:4]), ipaddress.IPv4Address(block[4:8])
            sport, dport = struct.unpack("!HH", block[8:12])
            return "v2 cmd=%#x TCP4 %s %s %d %d" % (command, src, dst, sport, dport)
        if fam == 0x21:
            src, dst = ipaddress.IPv6Address(block[0:16]), ipaddress.IPv6Address(block[16:32])
            sport, dport = struct.unpack("!HH", block[32:36])
            return "v2 cmd=%#x TCP6 %s %s %d %d" % (command, src, dst, sport, dport)
        return "v2 cmd=%#x family=%#x" % (command, fam)
    line = start
    while not line.endswith(b"\r\n"):
        line += read_exact(conn, 1)
    return "v1 " + line[:-2].decode()


class ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            seen = parse_header(self.request)
            request = b""
            while b"\r\n\r\n" not in request:
                request += read_exact(self.request, 1)
        except EOFError:
            return
        body = (seen + "\n").encode()
        self.request.sendall(
            b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )


def proxy_backend(host, port):
    class Server(socketserver.ThreadingTCPServer):
        address_family = family(host)
        allow_reuse_address = True
        daemon_threads = True

    Server((host, port), ProxyHandler).serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "http":
        http_backend(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        proxy_backend(sys.argv[2], int(sys.argv[3]))
