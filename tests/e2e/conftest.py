"""End-to-end fixtures: the bundle under jujusim, with the BUILT livepatch charm, the
stand-ins (postgresql, haproxy, ubuntu-advantage) and a local contracts server."""

import os
import shutil
import tempfile
import threading
from http.server import ThreadingHTTPServer

import pytest

from e2ehelpers import BUNDLE, CHARM, ContractsHandler, Sim, free_subnet, skip_or_fail, skip_reason


@pytest.fixture(scope="session")
def contracts():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ContractsHandler)
    server.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def bundle_model():
    """The bundle deployed (once per module); destroyed afterwards, even on failure."""
    reason = skip_reason()
    if reason:
        skip_or_fail(reason)
    path = tempfile.mkdtemp(prefix="jujusim-e2e-")
    os.rmdir(path)
    sim = Sim(path, free_subnet())
    try:
        sim.run("init", "--subnet", sim.subnet)
        sim.run("deploy", BUNDLE, "--charm", "livepatch=" + CHARM)
        yield sim
    finally:
        proc = sim.destroy()
        if not os.environ.get("JUJUSIM_KEEP"):
            shutil.rmtree(path, ignore_errors=True)
        assert proc.returncode == 0, "destroy left processes: %s" % proc.stderr
