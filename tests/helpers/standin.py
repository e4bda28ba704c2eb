"""A hostile stand-in for the Omi API, for answers the emulator will not give.

    def answer(req):                     # req.path, req.query (dict), req.headers
        if req.path.endswith("/user/memories"):
            return 200, {}, [] if req.query.get("offset") != "0" else [{"id": "m1", "content": "x"}]
        return 200, {"Retry-After": "inf"}, []
    with StandIn(answer) as srv:
        srv.url          # http://127.0.0.1:PORT/v1/dev
        srv.requests     # every request seen: (path, query dict)

answer returns (status, headers, body), where body is bytes, a str, a JSON
value, or a callable that gets the handler's wfile and streams (it must
stop once srv.stopping is set). The server listens on 127.0.0.1 only, each
connection in its own thread, and stop() ends it within a few seconds.
"""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    def __init__(self, handler):
        split = urllib.parse.urlsplit(handler.path)
        self.path = split.path
        self.query = dict(urllib.parse.parse_qsl(split.query))
        self.headers = handler.headers


class StandIn:
    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    def start(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                req = Request(self)
                with standin.lock:
                    standin.requests.append((req.path, req.query))
                status, headers, body = standin.answer(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if callable(body):
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        body(self.wfile)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
                if isinstance(body, str):
                    body = body.encode("utf-8")
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/v1/dev" % self.server.server_address[1]
        return self

    def count(self, path_suffix):
        with self.lock:
            return sum(1 for path, _ in self.requests if path.endswith(path_suffix))

    def stop(self):
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def page(items, req):
    """The slice of items that limit and offset ask for, as a server pages."""
    offset = int(req.query.get("offset", 0))
    limit = int(req.query.get("limit", 25))
    return items[offset:offset + limit]
