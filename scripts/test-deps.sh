#!/usr/bin/env bash
# What the test suite needs beyond npm packages: tmux (the dashboard under a real terminal),
# Chromium (the --inspect page in a real browser, driven by playwright-core), nats-server (the
# fleet mode's JetStream; the specs start their own on a free port), openssl (their TLS certificates),
# the real web servers whose access logs spec/real-servers reads: nginx, apache2 and caddy (each
# started by the spec on a free port under a temporary prefix; the packages' own services are not used),
# and Prometheus (spec/prometheus: /usr/bin/prometheus scrapes --metrics, started by the spec the same
# way; /usr/bin/promtool checks the exposition).
# Installed from Debian's packages when missing and we may (root); otherwise say what to install.
set -u
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Debian puts it in /usr/sbin, which a user's PATH may lack: the specs look there too.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || missing+=(apache2)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${missing[*]} (apt-get)"
  # The web servers' packages start their services on port 80 (nginx and apache2 on the same port,
  # so the second fails its postinst), prometheus's on 9090; the specs start their own. A policy-rc.d
  # that refuses every start is put in place for the install (container images ship one already) and
  # removed after.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# test-deps: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d \
      && chmod 755 /usr/sbin/policy-rc.d && trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
    || { echo "test-deps: apt-get install ${missing[*]} failed"; exit 1; }
else
  echo "test-deps: the tests need ${missing[*]}: sudo apt-get install ${missing[*]}"
  exit 1
fi
