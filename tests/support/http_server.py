#!/usr/bin/env python3
"""Loopback HTTP server for the download tests. Serves files under --root on 127.0.0.1 only.

Paths:
  /<org>/<name>/resolve/<revision>/<file>  ->  <root>/hub/<org>/<name>/<file>, answered like the Hugging Face
      hub: X-Repo-Commit (--commit), and (unless --etag) for files over 1 KiB X-Linked-Etag = SHA-256 and X-Linked-Size,
      otherwise ETag = git blob SHA-1 of the contents.
  anything else                            ->  <root>/<path>
GET and HEAD; "Range: bytes=N-" / "bytes=N-M" answered with 206 (416 past the end).

Modes (--mode):
  normal  serve files
  drop    the first GET of each path sends the headers and half the body, then closes the connection
  stall   every GET sends the headers, then no body byte until the client goes away (curl's
          low-speed window would hide a stall for seconds after an initial burst)
  auth    answer 401 unless "Authorization: Bearer <--token>"
  flaky   the first request of each path is answered 503
--rate B/s slows every body down (for concurrent-download tests).
--corrupt NAME    hub files whose name ends with NAME: the body of a GET has its middle byte flipped, while the
                  headers (ETag, sizes) still describe the true contents (a cache or proxy that mangled bytes).
--wrong-size NAME hub files whose name ends with NAME: X-Linked-Size one more than the true size.

Every request is appended to --log as "METHOD PATH RANGE" (RANGE "-" when absent), flushed at once.
The chosen port is written to --port-file once listening. The server exits after --max-seconds.
Run: python3 tests/support/http_server.py --root DIR --port-file F --log L [--mode drop]
"""
import argparse
import hashlib
import http.server
import os
import re
import socketserver
import sys
import threading
import time

args = None
log_lock = threading.Lock()
dropped = set()


def log(line):
    with log_lock:
        with open(args.log, "a") as f:
            f.write(line + "\n")
            f.flush()


def path_of(request_path):
    return request_path.split("?", 1)[0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def resolve(self):
        path = self.path.split("?", 1)[0]
        m = re.match(r"^/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$", path)
        hub = m is not None
        rel = os.path.join("hub", m.group(1), m.group(2), m.group(4)) if hub else path.lstrip("/")
        full = os.path.realpath(os.path.join(args.root, rel))
        if not full.startswith(os.path.realpath(args.root) + os.sep):
            return None, hub
        return full, hub

    def send_error_plain(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self, head):
        log("%s %s %s" % (self.command, self.path, self.headers.get("Range", "-")))
        if args.mode == "auth" and self.headers.get("Authorization") != "Bearer " + args.token:
            return self.send_error_plain(401, "unauthorized")
        if args.mode == "flaky" and ("flaky", self.path) not in dropped:
            dropped.add(("flaky", self.path))
            return self.send_error_plain(503, "try again")
        full, hub = self.resolve()
        if full is None or not os.path.isfile(full):
            return self.send_error_plain(404, "not found")
        data = open(full, "rb").read()
        size = len(data)
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            m = re.match(r"^bytes=(\d+)-(\d*)$", rng.strip())
            if m:
                start = int(m.group(1))
                if m.group(2):
                    end = min(int(m.group(2)), size - 1)
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        served = data
        if hub and args.corrupt and not head and path_of(self.path).endswith(args.corrupt) and size > 0:
            mangled = bytearray(data)
            mangled[size // 2] ^= 0x01
            served = bytes(mangled)
        body = served[start:end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        if hub:
            self.send_header("X-Repo-Commit", args.commit)
            if args.etag:
                self.send_header("X-Linked-Etag", '"%s"' % args.etag)
                self.send_header("ETag", '"%s"' % args.etag)
            elif size > 1024:
                sha = hashlib.sha256(data).hexdigest()
                self.send_header("X-Linked-Etag", '"%s"' % sha)
                wrong = args.wrong_size and path_of(self.path).endswith(args.wrong_size)
                self.send_header("X-Linked-Size", str(size + 1 if wrong else size))
                self.send_header("ETag", '"%s"' % sha)
            else:
                blob = hashlib.sha1(b"blob %d\0" % size + data).hexdigest()
                self.send_header("ETag", '"%s"' % blob)
        if args.mode in ("drop", "stall"):
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if args.mode == "drop" and self.path not in dropped:
            dropped.add(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if args.mode == "stall":
            self.wfile.flush()
            deadline = time.time() + args.max_seconds
            while time.time() < deadline:
                time.sleep(0.1)
                try:
                    self.wfile.write(b"")
                    self.wfile.flush()
                except OSError:
                    break
            self.close_connection = True
            return
        if args.rate > 0:
            chunk = max(1, args.rate // 20)
            for i in range(0, len(body), chunk):
                self.wfile.write(body[i:i + chunk])
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.wfile.write(body)

    def do_GET(self):
        try:
            self.handle_any(False)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_HEAD(self):
        self.handle_any(True)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that gives up mid-transfer (a full disk, a timeout test) is expected here, not an error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--mode", default="normal", choices=["normal", "drop", "stall", "auth", "flaky"])
    p.add_argument("--commit", default="0123456789abcdef0123456789abcdef01234567")
    p.add_argument("--token", default="")
    p.add_argument("--etag", default="", help="send this etag for every hub file (hostile-name tests)")
    p.add_argument("--rate", type=int, default=0)
    p.add_argument("--corrupt", default="")
    p.add_argument("--wrong-size", default="")
    p.add_argument("--max-seconds", type=float, default=60)
    args = p.parse_args()
    open(args.log, "a").close()
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    threading.Timer(args.max_seconds, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
