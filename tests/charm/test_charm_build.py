"""The built charm (make build): its layout, charm proof, and an offline install of
its wheelhouse by the charm's own bootstrap for each target Python found here.

The build runs once per session through scripts/build-charm.sh, which does
nothing when build/livepatch already matches the sources.
"""

import concurrent.futures
import glob
import os
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from charmtest import ROOT

CHARM = os.path.join(ROOT, "build", "livepatch")
TOOLS = os.path.join(ROOT, "build", ".tools")
TARGET_PYTHONS = ("3.10", "3.12")  # Ubuntu 22.04 and 24.04; the build host's is added


def run_build():
    return subprocess.run(
        ["bash", "scripts/build-charm.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="session")
def charm():
    done = run_build()
    assert done.returncode == 0, f"make build failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return CHARM


def read_yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def executable(path):
    return os.path.isfile(path) and bool(os.stat(path).st_mode & stat.S_IXUSR)


# --- layout ------------------------------------------------------------------------

LIFECYCLE = ["install", "config-changed", "start", "stop", "upgrade-charm", "update-status",
             "leader-elected", "leader-settings-changed", "pre-series-upgrade", "post-series-upgrade"]


def test_hooks_for_every_event(charm):
    metadata = read_yaml(charm, "metadata.yaml")
    endpoints = [*metadata.get("requires", {}), *metadata.get("provides", {}), *metadata.get("peers", {})]
    assert sorted(endpoints) == ["database", "db", "nrpe-external-master", "ua", "website"]
    expected = list(LIFECYCLE)
    for endpoint in endpoints:
        expected += [f"{endpoint}-relation-{event}" for event in ("created", "joined", "changed", "departed", "broken")]
    for hook in expected:
        path = os.path.join(charm, "hooks", hook)
        assert executable(path), f"hooks/{hook} missing or not executable"
        with open(path) as handle:
            text = handle.read()
        assert text.startswith("#!/usr/bin/env python3") and "bootstrap.enter_venv(HOOK" in text, hook


def test_executable_action_for_every_action(charm):
    for action in read_yaml(charm, "actions.yaml"):
        assert executable(os.path.join(charm, "actions", action)), f"actions/{action}"


def test_interface_layers_are_in_the_charm(charm):
    for name in ("pgsql", "http", "ua-token"):
        for role in ("requires", "provides"):
            assert os.path.isfile(os.path.join(charm, "hooks", "relations", name, f"{role}.py"))
    assert os.path.isfile(os.path.join(charm, "hooks", "relations", "postgresql_client", "requires.py"))
    assert os.path.isfile(os.path.join(charm, "hooks", "relations", "postgresql_client", "README.md"))


UBUNTU = {"jammy": "22.04", "noble": "24.04"}


def test_manifest_bases_match_the_series(charm):
    """Juju 3.4+ reads the charm's OS from manifest.yaml `bases` and ignores metadata
    `series` when one is there; charm build writes no manifest (real-charms-facts §7)."""
    series = read_yaml(charm, "metadata.yaml")["series"]
    assert series == read_yaml(ROOT, "metadata.yaml")["series"]
    manifest = read_yaml(charm, "manifest.yaml")
    assert manifest["bases"] == [{"name": "ubuntu", "channel": UBUNTU[name], "architectures": ["amd64"]}
                                 for name in series]
    assert all(isinstance(base["channel"], str) for base in manifest["bases"])  # "22.04", not 22.04
    with open(os.path.join(charm, "manifest.yaml")) as handle:
        assert "&" not in handle.read()  # no YAML anchors/aliases: plain for any reader
    # amd64 is all the wheelhouse carries (test_wheelhouse_is_binary_wheels_for_each_target_python)


def test_charm_ships_the_server_but_no_development_files(charm):
    assert os.path.isfile(os.path.join(charm, "pyproject.toml"))
    assert os.path.isfile(os.path.join(charm, "livepatch_app", "cli.py"))
    for unwanted in (".venv", "build", "tests", "bench", ".git", ".livepatch", "interfaces", "scripts",
                     "Makefile", "bundle.yaml"):
        assert not os.path.exists(os.path.join(charm, unwanted)), unwanted
    assert not glob.glob(os.path.join(charm, "**", "__pycache__"), recursive=True)


def test_readme_is_the_operator_guide(charm):
    with open(os.path.join(charm, "README.md")) as built, open(os.path.join(ROOT, "docs", "charm-README.md")) as src:
        assert built.read() == src.read()


def test_proof_reports_nothing_to_fix(charm):
    done = subprocess.run([os.path.join(TOOLS, "bin", "charm-proof"), charm], capture_output=True, text=True)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line[:2] in ("W:", "E:")]
    assert done.returncode == 0 and not problems, problems


def test_wheelhouse_is_binary_wheels_for_each_target_python(charm):
    wheels = os.listdir(os.path.join(charm, "wheelhouse"))
    assert wheels and all(name.endswith(".whl") for name in wheels), "sdists need a compiler on the unit"
    for name in wheels:
        python_tag, abi_tag, platform_tag = name[:-4].split("-")[-3:]
        assert platform_tag == "any" or "manylinux" in platform_tag and "x86_64" in platform_tag, name
    host = "%d%d" % sys.version_info[:2]
    for package in ("psycopg2_binary", "pyyaml", "markupsafe"):
        for tag in ("cp310", "cp312", f"cp{host}"):
            assert any(w.startswith(package + "-") and f"-{tag}-" in w for w in wheels), f"{package} {tag}"
    assert any(w.startswith("pip-") for w in wheels), "the bootstrap runs pip from its wheel"


def test_second_build_is_a_no_op(charm):
    stamp = os.path.getmtime(os.path.join(CHARM, "metadata.yaml"))
    done = run_build()
    assert done.returncode == 0
    assert "up to date" in done.stderr, done.stderr[-2000:]
    assert os.path.getmtime(os.path.join(CHARM, "metadata.yaml")) == stamp


# --- offline install with the charm's own bootstrap ------------------------------------


def find_python(version):
    # pyenv's root from its own variable first: CI runs with a private, empty HOME.
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which(f"python{version}"), f"/usr/bin/python{version}",
                  *sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


HOST_VERSION = "%d.%d" % sys.version_info[:2]
VERSIONS = sorted(set(TARGET_PYTHONS) | {HOST_VERSION})

BUILD = """
import sys
sys.path.insert(0, sys.argv[1] + "/lib")
from charms.livepatch import bootstrap
bootstrap.build(sys.argv[1], sys.argv[2])
"""

# What the hooks, the actions and the service import, from the venv alone.
IMPORTS = """
import importlib, os, sys
charm = sys.argv[1]
# As in the hooks: lib/ goes on sys.path before the first `import charms`, so
# that the charms namespace (charms.reactive) extends over lib/charms.
sys.path += [os.path.join(charm, "lib"), charm, os.path.join(charm, "hooks")]
import charmhelpers.osplatform
charmhelpers.osplatform.get_platform = lambda: "ubuntu"  # this test machine is Debian; units are Ubuntu
import bcrypt, click, flask, jinja2, psycopg2, psycopg2.extensions, requests, waitress, yaml
import charms.reactive, charmhelpers.core.hookenv, charmhelpers.core.host, charmhelpers.core.unitdata
import charmhelpers.contrib.charmsupport.nrpe
import livepatch_app, livepatch_app.cli, livepatch_app.app, livepatch_app.serve, livepatch_app.schema
assert livepatch_app.__file__.startswith(sys.prefix), "server not installed in the venv: " + livepatch_app.__file__
assert bcrypt.checkpw(b"pw", bcrypt.hashpw(b"pw", bcrypt.gensalt(4)))
for module in ("charms.livepatch.unit", "charms.livepatch.actions", "charms.livepatch.configflags",
               "charms.livepatch.pro", "charms.livepatch.website",
               "charms.livepatch.nrpe", "reactive.livepatch", "reactive.nrpe", "relations.pgsql.requires", "relations.http.provides",
               "relations.ua-token.requires", "relations.postgresql_client.requires"):
    importlib.import_module(module)
print("imports ok", sys.version_info[:2])
"""


@pytest.fixture(scope="session")
def installs(charm, tmp_path_factory):
    """One venv per Python found, built in parallel by bootstrap.build without network."""
    offline = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []
    base = tmp_path_factory.mktemp("venvs")

    def install(version):
        python = find_python(version)
        if python is None:
            return version, None, None
        venv = str(base / f"py{version}" / ".venv")
        done = subprocess.run(offline + [python, "-c", BUILD, charm, venv], capture_output=True, text=True,
                              timeout=600)
        return version, venv, done

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(VERSIONS)) as pool:
        results = list(pool.map(install, VERSIONS))
    return {version: (venv, done, bool(offline)) for version, venv, done in results}


@pytest.mark.parametrize("version", VERSIONS)
def test_wheelhouse_installs_offline_and_imports(installs, charm, version):
    venv, done, offline = installs[version]
    if venv is None:
        assert version != HOST_VERSION
        pytest.skip(f"no Python {version} on this machine")
    assert done.returncode == 0, f"bootstrap failed for Python {version}:\n{done.stderr[-4000:]}"
    python = os.path.join(venv, "bin", "python")
    # cwd: not the repository, whose livepatch_app/ would shadow the installed one
    checked = subprocess.run([python, "-c", IMPORTS, charm], capture_output=True, text=True, timeout=120,
                             cwd=os.path.dirname(venv))
    assert checked.returncode == 0, checked.stderr[-4000:]
    assert f"({version.replace('.', ', ')})" in checked.stdout
    cli = subprocess.run([python, "-m", "livepatch_app", "--help"], capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(venv))
    assert cli.returncode == 0 and "serve" in cli.stdout
    assert offline or version, "installed without network isolation (unshare unavailable)"
