"""Fixtures for the simulator's self-tests: models that are always destroyed."""

import os
import shutil
import tempfile

import pytest

from simtesting import SKIP_REASON, Sim, free_subnet, skip_or_fail


@pytest.fixture(scope="module")
def new_model(request):
    """new_model(parallel=2, juju_version=None, ingress_offset=None) -> Sim on a free
    loopback /24 (sim.subnet); destroyed (and deleted) when the module ends, whatever
    happened."""
    if SKIP_REASON:
        skip_or_fail(SKIP_REASON)
    made = []

    def make(parallel=2, juju_version=None, ingress_offset=None):
        path = tempfile.mkdtemp(prefix="jujusim-test-")
        os.rmdir(path)
        subnet = free_subnet()
        sim = Sim(path, subnet)
        made.append(sim)
        args = ["init", "--subnet", subnet, "--parallel", str(parallel)]
        if juju_version:
            args += ["--juju-version", juju_version]
        if ingress_offset:
            args += ["--ingress-offset", str(ingress_offset)]
        sim.run(*args)
        return sim

    yield make
    for sim in made:
        proc = sim.destroy()
        assert proc.returncode == 0, "destroy left processes: %s" % proc.stderr
        if not os.environ.get("JUJUSIM_KEEP"):  # JUJUSIM_KEEP=1 keeps logs and state
            shutil.rmtree(sim.path, ignore_errors=True)
