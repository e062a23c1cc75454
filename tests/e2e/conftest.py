"""End-to-end fixtures: the bundle under jujusim, with the BUILT livepatch charm, the
stand-ins (postgresql, haproxy, ubuntu-advantage) and a local contracts server."""

import threading
from http.server import ThreadingHTTPServer

import pytest

from e2ehelpers import BUNDLE, CHARM, ContractsHandler, simulated_model


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
    with simulated_model("jujusim-e2e-") as sim:
        sim.run("deploy", BUNDLE, "--charm", "livepatch=" + CHARM)
        yield sim
