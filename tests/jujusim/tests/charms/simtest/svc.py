"""simtest's service: a tiny HTTP server that reports how it was started."""
import http.server
import json
import os
import sys

address, port = sys.argv[1], int(sys.argv[2])
info = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(),
        "env": dict(os.environ)}
with open("/run/simtest/info.json", "w") as f:
    json.dump(info, f)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("simtest %s %s pid=%d\n" % (os.environ.get("SIMTEST_UNIT"),
                                            os.environ.get("SIMTEST_GREETING"),
                                            os.getpid())).encode()
        if self.path == "/debug/status":
            body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer((address, port), Handler).serve_forever()
