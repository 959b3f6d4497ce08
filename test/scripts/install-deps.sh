#!/usr/bin/env bash
# Installs the Debian packages that tests, the demo and benchmarks need; apt-get update runs once, only when something is missing.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have groovy || need+=(groovy)
have java || need+=(default-jre-headless)
[ -f /usr/share/java/junit4.jar ] || need+=(junit4)
have softhsm2-util || need+=(softhsm2)
have docker-registry || need+=(docker-registry)
have git || need+=(git)
have gcc || need+=(gcc)
have curl || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
have chromium || need+=(chromium)   # the release report screenshot test
have openssl || need+=(openssl) # the Groovy bootstrap verifies SHA256SUMS.sig with it
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
