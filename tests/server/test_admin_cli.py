"""livepatch-admin as a user runs it: a real subprocess against a live server, with
HOME and XDG_CONFIG_HOME in a temporary folder. This file: the harness (imported by
the other test_admin_cli_* files), sessions, credentials, errors, output formats."""

import http.server
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from livetest import ADMIN_PASSWORD, ADMIN_USER, free_port, server_on_new_database

SCRIPT = Path(sys.executable).with_name("livepatch-admin")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "livepatch_app.admin_cli"]
CREDENTIALS = f"{ADMIN_USER}:{ADMIN_PASSWORD}"


class Result:
    def __init__(self, completed):
        self.rc = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr

    @property
    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"<rc={self.rc} out={self.out!r} err={self.err!r}>"


class AdminCLI:
    """Runs livepatch-admin for one user (their own HOME) against one server."""

    def __init__(self, url, home, command=CLI):
        self.url = url
        self.home = Path(home)
        self.command = list(command)
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEPATCH_")}
        self.env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"), LIVEPATCH_URL=url,
                        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")

    @property
    def session_file(self):
        return self.home / ".config" / "livepatch-admin" / "sessions.json"

    def __call__(self, *args, env=None, timeout=60, **kwargs):
        completed = subprocess.run(self.command + [str(arg) for arg in args], env={**self.env, **(env or {})},
                                   capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
                                   **kwargs)
        result = Result(completed)
        assert "Traceback" not in result.err, result
        return result

    def ok(self, *args, **kwargs):
        result = self(*args, **kwargs)
        assert result.rc == 0, result
        return result

    def json(self, *args, **kwargs):
        return self.ok(*args, "--format", "json", **kwargs).json

    def fails(self, *args, rc=1, **kwargs):
        """A failure: the exit code, nothing on stdout, ONE line on stderr."""
        result = self(*args, **kwargs)
        assert result.rc == rc, result
        assert result.out == "", result
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, result
        return result

    def login(self):
        return self.ok("login", "-a", CREDENTIALS)

    def server_download(self, filename):
        return requests.get(f"{self.url}/v1/patches/{filename}", timeout=30)

    def stored_token(self):
        return json.loads(self.session_file.read_text())["servers"][self.url]["token"]


@pytest.fixture(scope="module")
def shared_server(pg_admin_dsn, migrated_template, admin_users_entry, tmp_path_factory):
    """One live server (real waitress, fresh migrated database) for a whole test file:
    a server per test would cost more than the tests. Tests on it use names of
    their own (unique()) and never assume an empty server."""
    with server_on_new_database(pg_admin_dsn, migrated_template, admin_users_entry,
                                tmp_path_factory.mktemp("store"), prefix="lp_test_cli_",
                                concurrency_limit=4, burst_limit=4) as server:
        yield server


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli(shared_server, tmp_path):
    return AdminCLI(shared_server.url, tmp_path / "home")


@pytest.fixture
def admin(cli):
    """The CLI, logged in."""
    cli.login()
    return cli


# -- login, logout, the token file -----------------------------------------------------------


def _labels(cli):
    return {row["id"] for row in cli.json("auth-tokens", "list")["auth-tokens"]}


def test_login_keeps_a_private_token_per_server_and_logout_revokes_it(shared_server, cli):
    server = shared_server
    result = cli.login()
    assert f"Logged in to {server.url} as {ADMIN_USER}" in result.out
    assert ADMIN_PASSWORD not in result.out + result.err
    token = cli.stored_token()
    assert token not in result.out + result.err
    assert stat.S_IMODE(cli.session_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.session_file.parent.stat().st_mode) == 0o700
    assert ADMIN_PASSWORD not in cli.session_file.read_text()
    # The stored token is what later commands send.
    label = unique("login")
    cli.ok("auth-token", label, "edge")
    assert label in _labels(cli)
    bearer = {"Authorization": f"Bearer {token}"}
    assert server.request("GET", "/v1/admin/auth-tokens", headers=bearer).status_code == 200

    out = cli.ok("logout").out
    assert out == f"Logged out of {server.url}.\n"
    assert server.request("GET", "/v1/admin/auth-tokens", headers=bearer).status_code == 401
    assert json.loads(cli.session_file.read_text())["servers"] == {}
    assert stat.S_IMODE(cli.session_file.stat().st_mode) == 0o600
    assert cli.ok("logout").out == f"Not logged in to {server.url}.\n"
    result = cli.fails("auth-tokens", "list", rc=4)
    assert "not logged in" in result.err and "livepatch-admin login" in result.err


def test_login_json_never_shows_the_session_token(cli, shared_server):
    data = cli.json("login", "-a", CREDENTIALS)
    assert data["server"] == shared_server.url and data["user"] == ADMIN_USER
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", data["expires"])
    assert "token" not in data and cli.stored_token() not in json.dumps(data)


def test_login_again_replaces_and_revokes_the_old_session(cli, shared_server):
    cli.login()
    first = cli.stored_token()
    cli.login()
    second = cli.stored_token()
    assert first != second

    def status(token):
        return shared_server.request("GET", "/v1/admin/tiers", headers={"Authorization": f"Bearer {token}"}).status_code

    assert (status(first), status(second)) == (401, 200)
    # A session file loosened by hand is made private again on next use.
    cli.session_file.chmod(0o644)
    cli.ok("tier", "list")
    assert stat.S_IMODE(cli.session_file.stat().st_mode) == 0o600


def test_one_session_per_server(shared_server, make_server, tmp_path):
    other = make_server()
    home = tmp_path / "home"
    one, two = AdminCLI(shared_server.url, home), AdminCLI(other.url, home)
    one.login()
    two.login()
    servers = json.loads(one.session_file.read_text())["servers"]
    assert set(servers) == {shared_server.url, other.url}
    assert servers[shared_server.url]["token"] != servers[other.url]["token"]
    one.ok("logout")
    one.fails("auth-tokens", "list", rc=4)
    assert two.json("auth-tokens", "list") == {"auth-tokens": []}
    # --url wins over LIVEPATCH_URL, and names the same session (trailing slash and case don't matter).
    other_url = other.url.replace("http://", "HTTP://") + "/"
    assert one.json("--url", other_url, "auth-tokens", "list") == {"auth-tokens": []}


def test_server_urls_name_one_session_however_written():
    from livepatch_app.admin_cli.errors import CLIError
    from livepatch_app.admin_cli.state import normalize_url

    assert normalize_url(" HTTP://LP.Example:80/ ") == "http://lp.example"
    assert normalize_url("https://lp.example:443") == "https://lp.example"
    assert normalize_url("https://lp.example:8443/livepatch/") == "https://lp.example:8443/livepatch"
    assert normalize_url("http://[::1]:80") == "http://[::1]"
    for bad in ("", "lp.example", "ftp://lp.example", "http://lp.example:99999", "http://u:p@lp.example"):
        with pytest.raises(CLIError):
            normalize_url(bad)


def test_wrong_password_is_one_line_and_stores_nothing(cli):
    result = cli.fails("login", "-a", f"{ADMIN_USER}:not-the-password", rc=4)
    assert result.err == "error: login: wrong user name or password (invalid-credentials, HTTP 401)\n"
    assert "not-the-password" not in result.err
    assert not cli.session_file.exists()
    result = cli.fails("login", "-a", "nocolon", rc=2)  # no terminal to ask for the password
    assert "USER:PASSWORD" in result.err
    cli.fails("login", rc=2)


def test_revoked_session_asks_to_log_in_again(shared_server, admin):
    token = admin.stored_token()
    assert shared_server.request("POST", "/v1/admin/logout", headers={"Authorization": f"Bearer {token}"}).ok
    result = admin.fails("auth-tokens", "list", rc=4)
    assert "expired or was revoked: log in again" in result.err
    assert token not in result.err
    # The dead token is dropped, so the next command says plainly that there is no session.
    assert "not logged in" in admin.fails("tier", "list", rc=4).err
    admin.login()
    assert "auth-tokens" in admin.json("auth-tokens", "list")


def test_basic_credentials_for_scripts(cli):
    # -a / LIVEPATCH_AUTH: no login, no token file.
    assert "auth-tokens" in cli.json("-a", CREDENTIALS, "auth-tokens", "list")
    assert "auth-tokens" in cli.json("auth-tokens", "list", env={"LIVEPATCH_AUTH": CREDENTIALS})
    assert not cli.session_file.exists()
    result = cli.fails("-a", f"{ADMIN_USER}:badpass", "auth-tokens", "list", rc=4)
    assert "(invalid-credentials, HTTP 401)" in result.err and "badpass" not in result.err


# -- failures: one line, the right exit code --------------------------------------------------


@pytest.fixture
def offline_cli(tmp_path):
    """The CLI pointed at nothing: for failures that need no server."""
    return AdminCLI(f"http://127.0.0.1:{free_port()}", tmp_path / "home")


def test_unreachable_server(offline_cli):
    url = offline_cli.url
    result = offline_cli.fails("-a", CREDENTIALS, "auth-tokens", "list", rc=3)
    assert result.err == f"error: auth-tokens list: cannot reach the server at {url}: connection refused\n"
    result = offline_cli.fails("login", "-a", CREDENTIALS, env={"LIVEPATCH_URL": "http://no-such-host.invalid"},
                               rc=3)
    assert "cannot reach the server at http://no-such-host.invalid" in result.err
    assert ADMIN_PASSWORD not in result.err


def test_server_that_never_answers_times_out(offline_cli):
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        url = "http://127.0.0.1:%d" % listener.getsockname()[1]
        result = offline_cli.fails("--timeout", "0.5", "login", "-a", CREDENTIALS, env={"LIVEPATCH_URL": url},
                                   rc=3)
    assert result.err == f"error: login: the server at {url} did not answer within 0.5 s (raise it with --timeout)\n"


class _NotLivepatch(http.server.BaseHTTPRequestHandler):
    """What may sit at a wrong address or in front of the server: the URL's path picks."""

    def do_GET(self):
        if self.path.startswith("/html/"):
            self._answer(200, "text/html", b"<html><body>a web page</body></html>")
        elif self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "https://elsewhere.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/plain503/"):
            self._answer(503, "text/plain", b"No server is available to handle this request.")
        # /close/: no answer at all, the connection just closes

    def _answer(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_answers_that_are_not_the_livepatch_api(offline_cli):
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotLivepatch)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % web.server_address[1]
    try:
        def fails(prefix):
            return offline_cli.fails("-a", CREDENTIALS, "--url", base + prefix, "tier", "list",
                                     rc=3 if prefix == "/close" else (2 if prefix == "/redirect" else 1)).err

        assert "did not answer JSON: is that the Livepatch server's address?" in fails("/html")
        assert "redirect (HTTP 302) to https://elsewhere.example/" in fails("/redirect")
        assert fails("/plain503") == ("error: tier list: the server answered HTTP 503: "
                                      "No server is available to handle this request.\n")
        assert "closed the connection before answering" in fails("/close")
    finally:
        web.shutdown()
        web.server_close()


def test_usage_errors(offline_cli):
    cli = offline_cli
    result = cli.fails("tier", "create", rc=2)
    assert "Missing argument 'NAME'" in result.err and "livepatch-admin tier create --help" in result.err
    assert "No such command" in cli.fails("frobnicate", rc=2).err
    assert "no server" in cli.fails("auth-tokens", "list", env={"LIVEPATCH_URL": ""}, rc=2).err
    assert "invalid server URL" in cli.fails("--url", "ftp://x", "auth-tokens", "list", rc=2).err
    result = cli.fails("--url", f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:1", "tier", "list", rc=2)
    assert ADMIN_PASSWORD not in result.err and "not in the server URL" in result.err
    assert "'xml' is not one of" in cli.fails("--format", "xml", "tier", "list", rc=2).err
    # A bare group shows what it takes.
    result = cli("tier")
    assert result.rc == 2 and "create" in result.err and "patches" in result.err


def test_schema_behind_is_a_503_line(make_server, tmp_path):
    server = make_server(migrate=False)
    cli = AdminCLI(server.url, tmp_path / "home")
    result = cli.fails("login", "-a", CREDENTIALS, rc=1)
    assert re.match(r"^error: login: .+ \(schema-upgrade-required, HTTP 503\)\n$", result.err), result


def test_server_errors_show_sentence_and_code(admin):
    result = admin.fails("tier", "patches", "no-such-tier")
    assert result.err == "error: tier patches no-such-tier: no tier named 'no-such-tier' (tier-not-found, HTTP 404)\n"
    label = unique("dup")
    admin.ok("auth-token", label, "stable")
    result = admin.fails("auth-token", label, "stable")
    assert result.err == f"error: auth-token: an auth token labelled '{label}' already exists (token-exists, HTTP 409)\n"
    result = admin.fails("auth-token", unique("other"), "stable", "--valid-until", "next tuesday")
    assert "(invalid-field, HTTP 400)" in result.err and "valid-until" in result.err
    assert "(tier-not-found, HTTP 404)" in admin.fails("auth-token", unique("x"), "no-such-tier").err


# -- TLS ----------------------------------------------------------------------------------------


def _tls_proxy(target_port, cert, key):
    """A TLS terminator in front of the live server: the CLI speaks https to it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                tls = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pipe, args=(tls, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, tls), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_with_a_private_ca(shared_server, tmp_path):
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    listener = _tls_proxy(shared_server.config.port, str(cert), str(key))
    try:
        url = "https://127.0.0.1:%d" % listener.getsockname()[1]
        cli = AdminCLI(url, tmp_path / "home")
        result = cli.fails("login", "-a", CREDENTIALS, rc=3)
        assert "TLS error" in result.err and "certificate verify failed" in result.err and "--ca" in result.err
        cli.ok("--ca", cert, "login", "-a", CREDENTIALS)
        assert "auth-tokens" in cli.json("auth-tokens", "list", env={"LIVEPATCH_CA_CRT": str(cert)})
        # The variable may carry the PEM itself.
        assert "auth-tokens" in cli.json("auth-tokens", "list", env={"LIVEPATCH_CA_CRT": cert.read_text()})
        assert "does not exist" in cli.fails("--ca", tmp_path / "nope.crt", "tier", "list", rc=2).err
    finally:
        listener.close()


# -- output ---------------------------------------------------------------------------------------


def test_formats_global_or_after_the_command(admin):
    label = unique("fmt")
    admin.ok("auth-token", label, "stable", "--max-machines", "5")
    as_json = admin.ok("--format", "json", "auth-tokens", "list").json
    assert as_json == admin.ok("auth-tokens", "list", "--format", "json").json
    assert as_json == yaml.safe_load(admin.ok("auth-tokens", "list", "--format", "yaml").out)
    assert as_json == admin.json("auth-tokens", "list", env={"LIVEPATCH_FORMAT": "yaml"})  # the flag wins
    [row] = [row for row in as_json["auth-tokens"] if row["id"] == label]
    assert row["tier"] == "stable" and row["max-machines"] == 5
    table = admin.ok("auth-tokens", "list").out.splitlines()
    assert table[0].split()[:3] == ["ID", "TIER", "CREATED"]
    [line] = [line for line in table if line.startswith(label + " ")]
    assert line.split()[1] == "stable"


def test_python_dash_m_is_the_same_tool(shared_server, tmp_path):
    cli = AdminCLI(shared_server.url, tmp_path / "home", command=[sys.executable, "-m", "livepatch_app.admin_cli"])
    cli.login()
    assert "auth-tokens" in cli.json("auth-tokens", "list")
    assert "Usage: livepatch-admin" in cli.ok("--help").out


def _leaf_commands(group, path=()):
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, path + (name,))
        else:
            yield path + (name,), command


def test_every_command_has_help_with_an_example(capsys):
    from livepatch_app.admin_cli.main import cli, run

    leaves = list(_leaf_commands(cli))
    assert len(leaves) >= 29
    for path, _ in leaves:
        assert run(list(path) + ["--help"]) == 0, path
        text = capsys.readouterr().out
        assert "Example:" in text and "livepatch-admin " + " ".join(path) in text, path
        assert "--format" in text, path
