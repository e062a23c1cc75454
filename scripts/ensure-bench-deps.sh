#!/usr/bin/env bash
# Installs what `make bench` needs from Debian, only when missing: wrk (a native load
# generator: a Python client on the same two cores would measure itself) and nginx
# (a reference: sendfile on the same file). Their services are not started (the bench
# runs nginx itself, on a free loopback port, and stops it).
set -euo pipefail
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ ${#need[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (run as root or install them)" >&2
  exit 1
fi
# 101: "do not start services" (invoke-rc.d(8)); only a policy of ours is removed.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
