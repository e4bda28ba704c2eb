"""The HTTP side: the request handler (the API, the admin API, faults on
the wire), the threaded server, and serve(), which listens, prints the
base URL and stops cleanly on SIGTERM or SIGINT."""

import os
import secrets
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .common import ADMIN_PREFIX, API_PREFIX
from .state import Emulator


class Handler(BaseHTTPRequestHandler):
    """One connection: requests under /_emulator/ go to the admin API, those
    under /v1/dev to the API, after the latency and stall faults; the
    answer is counted, written (or dropped, or cut short) and logged."""

    protocol_version = "HTTP/1.1"
    server_version = "omi-emulator/1.0"
    sys_version = ""
    timeout = 120                       # idle keep-alive connections do not live forever
    emu = None                          # set by serve()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.emu.opts.verbose:
            sys.stderr.write("omi-emulator: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else None

    def dispatch(self, method):
        t0 = time.monotonic()
        emu = self.emu
        split = urlsplit(self.path)
        raw_path, query = split.path, split.query
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if raw_path == ADMIN_PREFIX or raw_path.startswith(ADMIN_PREFIX + "/"):
            self.send(emu.handle_admin(method, raw_path, query, body))
            return
        if not raw_path.startswith(API_PREFIX + "/"):
            reply = emu.error(404, "Not Found")
            self.send(reply)
            return
        rel = raw_path[len(API_PREFIX):]
        latency, stall = emu.plan_delays(raw_path)
        if stall > 0 and not emu.stall(stall):
            self.close_connection = True
            return
        try:
            endpoint, reply = emu.handle_api(method, rel, query, self.headers, body if method != "GET" else None)
        except Exception as exc:          # a bug must not kill the connection silently
            sys.stderr.write("omi-emulator: internal error: %r\n" % (exc,))
            endpoint, reply = "%s (error)" % method, emu.error(500, "Internal server error")
        if latency > 0 and emu.stop_event.wait(latency):
            self.close_connection = True
            return
        if stall > 0 and not reply.fault:
            reply.fault = "stall"
        fault = reply.fault
        status_key = "dropped" if reply.mode == "drop" else str(reply.status)
        # Counted before the client can see the answer: a client that asks
        # for the stats right after its request must find it counted.
        emu.record(endpoint, reply, status_key)
        nbytes = self.send(reply)
        emu.log_request(method, raw_path, query, 0 if reply.mode == "drop" else reply.status, nbytes,
                        (time.monotonic() - t0) * 1000.0, fault)
        if emu.opts.verbose:
            sys.stderr.write("omi-emulator: %s %s -> %s%s\n" % (method, self.path, status_key,
                                                                " [%s]" % fault if fault else ""))

    def send(self, reply):
        """Write the reply; returns the number of body bytes written."""
        try:
            if reply.mode == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return 0
            body = reply.body()
            self.send_response(reply.status)
            names = {k.lower() for k, _ in reply.headers}
            for k, v in reply.headers:
                self.send_header(k, v)
            if reply.status != 204:
                if "content-type" not in names:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if reply.mode == "truncate":
                part = body[:len(body) // 2]
                self.wfile.write(part)
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return len(part)
            if reply.status != 204:
                self.wfile.write(body)
            return len(body) if reply.status != 204 else 0
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return 0


class Server(ThreadingHTTPServer):
    """A thread per connection; the threads die with the process."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(opts, dataset):
    """Serve dataset as opts say until SIGTERM or SIGINT; returns the exit
    status (0, or 1 when it cannot listen)."""
    keys = opts.keys
    if not keys:
        keys = ["omi_dev_" + secrets.token_hex(16)]
        sys.stderr.write("omi-emulator: no --key given; generated API key: %s\n" % keys[0])
        sys.stderr.flush()
    emu = Emulator(opts, dataset, keys)
    Handler.emu = emu
    try:
        server = Server((opts.host, opts.port), Handler)
    except OSError as exc:
        sys.stderr.write("omi-emulator: cannot listen on %s:%d: %s\n" % (opts.host, opts.port, exc))
        return 1
    port = server.server_address[1]
    host = opts.host if ":" not in opts.host else "[%s]" % opts.host
    emu.base_url = "http://%s:%d%s" % (host, port, API_PREFIX)

    # The signals are taken with sigwait rather than a handler: a handler
    # runs between two bytecodes of the main thread, and one that sets an
    # Event deadlocks when the main thread is holding that Event's lock.
    # Blocked here, before any thread starts, they stay blocked in every
    # thread, so only the sigwait below receives them.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    announce(opts, emu, dataset)
    signal.sigwait(stop_signals)
    shut_down(emu, server)
    return 0


def announce(opts, emu, dataset):
    """The base URL to --url-file and as the first line on stdout; with
    --verbose, what is served on stderr."""
    if opts.url_file:
        tmp = opts.url_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(emu.base_url + "\n")
        os.replace(tmp, opts.url_file)
    sys.stdout.write(emu.base_url + "\n")
    sys.stdout.flush()
    if opts.verbose:
        sys.stderr.write("omi-emulator: %s profile, %d conversations, %d memories, %d action items\n" % (
            opts.profile, len(dataset["conversations"]), len(dataset["memories"]), len(dataset["action_items"])))


def shut_down(emu, server):
    """End the stalls and latencies under way, then the server, then the log."""
    with emu.cond:
        emu.stopping = True
        emu.cond.notify_all()
    emu.stop_event.set()
    server.shutdown()
    server.server_close()
    if emu.log_file:
        emu.log_file.close()
