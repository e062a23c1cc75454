"""The console's templates and stylesheet ship in the wheel (the charm installs the
server from one): every file under livepatch_app/templates/ is matched by a
[tool.setuptools.package-data] pattern."""

import fnmatch
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_file_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = patterns["livepatch_app"]
    package = ROOT / "livepatch_app"
    files = [p.relative_to(package).as_posix() for p in (package / "templates").rglob("*") if p.is_file()]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, f"not in the wheel (pyproject.toml package-data): {missing}"
