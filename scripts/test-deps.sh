#!/usr/bin/env bash
# What the test suite needs beyond npm packages: tmux (the dashboard under a real terminal),
# Chromium (the --inspect page in a real browser, driven by playwright-core), nats-server (the
# fleet mode's JetStream; the specs start their own on a free port) and openssl (their TLS certificates).
# Installed from Debian's packages when missing and we may (root); otherwise say what to install.
set -u
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Debian puts it in /usr/sbin, which a user's PATH may lack: the specs look there too.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${missing[*]} (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
    || { echo "test-deps: apt-get install ${missing[*]} failed"; exit 1; }
else
  echo "test-deps: the tests need ${missing[*]}: sudo apt-get install ${missing[*]}"
  exit 1
fi
