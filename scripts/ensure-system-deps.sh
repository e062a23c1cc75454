#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when missing.
# The packages' own services are not started: the tests run haproxy themselves,
# and a daemon left running by the install would outlive the test run.
set -euo pipefail
need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
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
