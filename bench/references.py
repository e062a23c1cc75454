"""The references the bench measures the server against, started in the same run on
loopback with the server's thread count:

- nginx serving the same file with sendfile (the stack's ceiling);
- a bare Flask view returning the file with send_from_directory under waitress
  (wsgi.file_wrapper: the floor of Flask + waitress for downloads);
- a bare Flask view answering {"patches": []} under waitress (the floor for a
  check-in: one JSON request in, one small JSON answer out);
- three steps between that floor and a real check-in, to show where its time goes: the
  same view after one `SELECT 1` on a pooled psycopg2 connection ("select"), the
  same view running our check-in statement (data/check_ins.py) through our pool
  ("statement"), each with a pool of the server's default size, and that statement
  in a bare WSGI app without Flask ("wsgi-statement": the floor of the check-in lane).

`python bench/references.py file|hello|select|statement|wsgi-statement PORT THREADS [FOLDER|DSN]`
runs one Flask reference.
"""

import os
import shutil
import subprocess
import sys

NGINX_CONF = """
worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log error;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def nginx_binary():
    return shutil.which("nginx") or "/usr/sbin/nginx"


def start_nginx(prefix, root, port):
    """nginx in the foreground on 127.0.0.1:port serving `root`; -> Popen."""
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read root's temp folder
    with open(conf, "w") as handle:
        handle.write(NGINX_CONF.format(prefix=prefix, root=root, port=port, user=user))
    return subprocess.Popen([nginx_binary(), "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_flask(kind, port, threads, folder=""):
    """One Flask reference (file, hello, select, statement) under waitress; `folder`
    is the file reference's folder, or the DSN of the database ones; -> Popen."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), kind, str(port), str(threads), folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _serve(kind, port, threads, folder):
    import waitress
    from flask import Flask, jsonify, send_from_directory

    app = Flask("reference")
    if kind == "file":
        @app.get("/v1/patches/<filename>")
        def download(filename):
            return send_from_directory(folder, filename)
    elif kind == "hello":
        @app.post("/v1/client/<machine_id>/updates")
        def check_in(machine_id):
            return jsonify({"patches": []})
    elif kind == "wsgi-statement":
        app = _bare_check_in(_statement(folder)[0])
    else:
        _database_view(app, kind, folder)
    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


def _statement(dsn):
    """check_in(machine_id, token, body) -> the answer's list, through our statement and a
    pool of the server's default size; and the pool."""
    import hashlib

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from livepatch_app.config import OPTIONS
    from livepatch_app.data import check_ins
    from livepatch_app.db import Database

    db = Database(dsn, OPTIONS["dbconn_max"][0])

    def check_in(machine_id, token, body):
        report = {"kernel": body["kernel"], "architecture": body["architecture"]}
        with db.autocommit() as cur:
            row = check_ins.record(cur, machine_id, hashlib.sha256(token.encode()).hexdigest(), report,
                                   body["kernel"].rsplit("-", 1)[0], "generic")
        return [row["filename"]] if row else []

    return check_in, db


def _database_view(app, kind, dsn):
    import json

    from flask import jsonify, request

    check_in_statement, db = _statement(dsn)

    @app.post("/v1/client/<machine_id>/updates")
    def check_in(machine_id):
        body = json.loads(request.get_data())
        if kind == "select":
            with db.autocommit() as cur:
                cur.execute("SELECT 1")
                return jsonify({"patches": [] if cur.fetchone() else None})
        token = request.headers["Authorization"].split()[-1]
        return jsonify({"patches": check_in_statement(machine_id, token, body)})


def _bare_check_in(check_in):
    """The statement's view (_statement) as a bare WSGI app: no Flask between waitress and it."""
    import json

    def app(environ, start_response):
        body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"null")
        parts = environ["PATH_INFO"].split("/")  # /v1/client/<machine_id>/updates
        if environ["REQUEST_METHOD"] != "POST" or len(parts) != 5 or not isinstance(body, dict):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        token = environ.get("HTTP_AUTHORIZATION", "").split()[-1]
        answer = json.dumps({"patches": check_in(parts[3], token, body)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]

    return app


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
