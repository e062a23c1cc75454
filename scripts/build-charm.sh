#!/usr/bin/env bash
# `make build`: the deployable livepatch charm in build/livepatch.
#
# 1. charm-tools and uv in their own venv under build/.tools.
# 2. Stage the layer: tracked or untracked-but-not-ignored files that layer.yaml
#    does not exclude, plus interfaces/, with docs/charm-README.md as the charm's
#    README. charm build refuses an output dir inside its source; the stage also
#    keeps it from walking .venv, and makes the no-op check see only real inputs.
# 3. `charm build` against the local interfaces/ only. It runs `charm proof`,
#    whose warnings fail the build. charms.reactive and charmhelpers are sdists
#    only: charm build makes wheels of them in a build venv whose pip and
#    setuptools it otherwise pins to old releases without `wheel`, where
#    `setup.py bdist_wheel` fails. --upgrade-buildvenv-core-deps gives that venv
#    current pip and setuptools, which build them in an isolated PEP 517
#    environment (a warm pip cache of those wheels used to hide this).
# 3b. Write manifest.yaml with the charm's bases, from metadata.yaml's series:
#    charm build emits metadata `series` only, while Juju 3.4+ wants `bases`
#    (and ignores `series` once a manifest is there): real-charms-facts §7.
#    amd64 only: the wheelhouse carries x86_64 wheels only (step 4).
# 4. Complete the wheelhouse with BINARY wheels for every Python the charm runs on
#    (3.10 on 22.04, 3.12 on 24.04, and this machine's), for the hooks
#    (wheelhouse.txt) and the server (pyproject.toml): units are often
#    air-gapped, with no compiler and no index. uv resolves per target Python,
#    because pip evaluates environment markers for the Python it runs on.
# 5. Swap the result into build/livepatch.
# Nothing is rebuilt when the staged inputs are those of the last build.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/livepatch
STAMP=$ROOT/build/.livepatch-inputs.sha256
TOOLS=$ROOT/build/.tools
PYTHON=${PYTHON:-python3}
TOOLS_SPEC="charm-tools==3.0.9 uv==0.13.9"
TARGET_PYTHONS="3.10 3.12"   # Ubuntu 22.04 and 24.04
GLIBC_MINOR_MAX=35           # manylinux_2_35: glibc of 22.04, the older of the two
UV_PLATFORM=x86_64-manylinux_2_$GLIBC_MINOR_MAX

log() { printf "==> [%3ds] %s\n" "$SECONDS" "$*" >&2; }
die() { printf 'build-charm: %s\n' "$*" >&2; exit 1; }

command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 \
  || die "needs a git checkout (the stage is made from git ls-files)"
[ -f docs/charm-README.md ] || die "docs/charm-README.md is missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/livepatch-charm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/livepatch
mkdir -p "$STAGE"

# --- 1. tools (own venv, reused while the versions stay) ------------------------
if [ ! -x "$TOOLS/bin/charm-build" ] || [ "$(cat "$TOOLS/.spec" 2>/dev/null)" != "$TOOLS_SPEC" ]; then
  log "installing build tools: $TOOLS_SPEC"
  rm -rf "$TOOLS"
  "$PYTHON" -m venv "$TOOLS"
  # shellcheck disable=SC2086
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check $TOOLS_SPEC > "$WORK/tools.log" 2>&1 \
    || { cat "$WORK/tools.log" >&2; die "could not install $TOOLS_SPEC"; }
  echo "$TOOLS_SPEC" > "$TOOLS/.spec"
fi
export PATH="$TOOLS/bin:$PATH"   # charm build runs `virtualenv` from PATH
# uv keeps its interpreter state under ~/.local/share/uv unless told otherwise: the
# build leaves nothing outside the clone but pip's and uv's usual caches.
export UV_PYTHON_INSTALL_DIR="$TOOLS/uv-python" UV_PYTHON_DOWNLOADS=never
HOST_PYTHON=$("$TOOLS/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# --- 2. stage: what charm build would read, by layer.yaml's own exclude list ------
# The interface layers under interfaces/ are inputs too, though not copied as such.
git ls-files -z --cached --others --exclude-standard | "$TOOLS/bin/python" -c '
import os, sys
import pathspec, yaml
excludes = (yaml.safe_load(open("layer.yaml")) or {}).get("exclude") or []
spec = pathspec.PathSpec.from_lines("gitwildmatch", excludes)
for path in sys.stdin.buffer.read().decode().split("\0"):
    if path and (os.path.lexists(path)) and (path.startswith("interfaces/") or not spec.match_file(path)):
        sys.stdout.write(path + "\0")
' | xargs -0 cp -P --parents -t "$STAGE"
cp docs/charm-README.md "$STAGE/README.md"

inputs_hash() {
  {
    (cd "$STAGE" && find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | tee "$WORK/inputs.list"
    sha256sum scripts/build-charm.sh
    echo "$TOOLS_SPEC $TARGET_PYTHONS $UV_PLATFORM $HOST_PYTHON"
  } | sha256sum | cut -d' ' -f1
}
HASH=$(inputs_hash)
if [ -d "$OUT" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  log "build/livepatch is up to date"
  exit 0
fi
if [ -f "$ROOT/build/.livepatch-inputs.list" ]; then
  changed=$( (diff "$ROOT/build/.livepatch-inputs.list" "$WORK/inputs.list" || true) \
    | sed -n 's/^[<>] [0-9a-f]*  \.\///p' | sort -u)
  log "rebuilding; changed since the last build: $(echo $changed | cut -c1-300)"
fi

# --- 3. charm build ---------------------------------------------------------------
log "charm build (interfaces from ./interfaces)"
mkdir -p "$WORK/layers"   # no local layers: a missing layer must fail, not be fetched
if ! CHARM_INTERFACES_DIR="$STAGE/interfaces" CHARM_LAYERS_DIR="$WORK/layers" CHARM_HIDE_METRICS=1 \
     charm-build --hide-metrics --binary-wheels --upgrade-buildvenv-core-deps --no-report --log-level WARNING \
       --cache-dir "$WORK/cache" --output-dir "$WORK/out" "$STAGE"; then
  die "charm build failed (charm proof warnings count as failures; see above)"
fi
CHARM=$WORK/out/livepatch
WHEELHOUSE=$CHARM/wheelhouse
[ -f "$CHARM/hooks/install" ] || die "charm build produced no hooks"

# --- 3b. manifest.yaml: bases from metadata.yaml's series ----------------------------
"$TOOLS/bin/python" - "$CHARM" <<'PY' || die "cannot write manifest.yaml"
import os, sys, yaml
charm = sys.argv[1]
UBUNTU = {"focal": "20.04", "jammy": "22.04", "noble": "24.04"}
ARCHITECTURES = ["amd64"]  # the wheelhouse holds x86_64 wheels only
with open(os.path.join(charm, "metadata.yaml")) as handle:
    series = (yaml.safe_load(handle) or {}).get("series") or []
unknown = [name for name in series if name not in UBUNTU]
if not series or unknown:
    sys.exit(f"build-charm: metadata.yaml series {series}: no Ubuntu version known for {unknown or 'none'}")
bases = [{"name": "ubuntu", "channel": UBUNTU[name], "architectures": list(ARCHITECTURES)} for name in series]
with open(os.path.join(charm, "manifest.yaml"), "w") as handle:
    handle.write("# Written by make build (scripts/build-charm.sh) from metadata.yaml's series:\n"
                 "# Juju 3.4+ takes the charm's bases from here; charm build writes none.\n")
    yaml.safe_dump({"bases": bases}, handle, default_flow_style=False, sort_keys=False)
PY

# --- 4. wheelhouse: binary wheels for every target Python ------------------------
PLATFORM_ARGS=(--platform manylinux2014_x86_64)
for minor in $(seq 17 "$GLIBC_MINOR_MAX"); do PLATFORM_ARGS+=(--platform "manylinux_2_${minor}_x86_64"); done
{ grep -v '^\s*#' "$STAGE/wheelhouse.txt"; echo pip; } > "$WORK/requirements.in"
PYTHONS=$(printf '%s\n' $TARGET_PYTHONS "$HOST_PYTHON" | sort -u -V)
# Pins and wheels of earlier builds are reused while the requirements stay the
# same: a rebuild after a code change then needs no resolution and no download.
CACHE=$ROOT/build/.wheel-cache
REQ_KEY=$(cat "$STAGE/pyproject.toml" "$WORK/requirements.in" | sha256sum | cut -c1-16)
mkdir -p "$CACHE/wheels"
pip_download() {
  PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS="" PIP_CONSTRAINT="" "$TOOLS/bin/pip" download \
    --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --implementation cp --python-version "$1" "${PLATFORM_ARGS[@]}" \
    --find-links "$WHEELHOUSE" --dest "$WHEELHOUSE" --requirement "$CACHE/pins-$1-$REQ_KEY.txt" "${@:2}"
}
for py in $PYTHONS; do
  log "wheels for Python $py"
  pins=$CACHE/pins-$py-$REQ_KEY.txt
  if [ ! -f "$pins" ]; then
    uv pip compile --quiet --no-header --no-annotate --no-config \
      --python-version "$py" --python-platform "$UV_PLATFORM" --find-links "$WHEELHOUSE" \
      --output-file "$pins.tmp" "$STAGE/pyproject.toml" "$WORK/requirements.in"
    mv "$pins.tmp" "$pins"
  fi
  cp "$pins" "$WORK/pins-$py.txt"
  pip_download "$py" --no-index --find-links "$CACHE/wheels" 2>/dev/null || pip_download "$py"
done
cp -n "$WHEELHOUSE"/*.whl "$CACHE/wheels/"

# Keep exactly the pinned wheels; charm build may have resolved other versions.
"$TOOLS/bin/python" - "$WHEELHOUSE" "$WORK"/pins-*.txt <<'PY'
import os, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
wheelhouse, pin_files = sys.argv[1], sys.argv[2:]
wanted = set()
for pin_file in pin_files:
    for line in open(pin_file):
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            wanted.add((norm(name), version.split(";")[0].strip()))
for entry in sorted(os.listdir(wheelhouse)):
    parts = entry.split("-")
    if not entry.endswith(".whl"):
        sys.exit(f"build-charm: {entry} in the wheelhouse is not a wheel")
    if (norm(parts[0]), parts[1]) not in wanted:
        os.remove(os.path.join(wheelhouse, entry))
PY

# --- 5. swap into place ------------------------------------------------------------
mkdir -p "$ROOT/build"
rm -rf "$OUT.old"
if [ -d "$OUT" ]; then mv "$OUT" "$OUT.old"; fi
mv "$CHARM" "$OUT"
rm -rf "$OUT.old"
echo "$HASH" > "$STAMP"
cp "$WORK/inputs.list" "$ROOT/build/.livepatch-inputs.list"
log "built $OUT ($(ls "$OUT/wheelhouse" | wc -l) wheels for Python $(echo $PYTHONS | tr ' ' ','))"
