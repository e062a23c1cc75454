#!/usr/bin/env bash
# Installs Debian packages only when a command they provide is missing:
#   bash scripts/apt-ensure.sh COMMAND=PACKAGE ...
# The packages' own services are not started (the tests and the bench run haproxy
# and nginx themselves; a daemon left running by the install would outlive them).
set -euo pipefail
need=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null 2>&1 || need+=("${pair#*=}")
done
[ ${#need[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (run as root or install them)" >&2
  exit 1
fi
# invoke-rc.d asks /usr/sbin/policy-rc.d whether a package may start its service;
# 101 means "no" (Debian Policy, invoke-rc.d(8)). Only ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
