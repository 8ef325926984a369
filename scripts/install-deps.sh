#!/usr/bin/env bash
# Installs what building and testing portcullis needs on Debian, skipping what is present.
# Safe to run repeatedly; used by .ci/run and by developers on a fresh machine.
set -euo pipefail

need=()
dpkg -s libpq-dev >/dev/null 2>&1 || need+=(libpq-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# OpenSSL headers: native-tls (mail) and webauthn-rs (passkeys) link it.
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
# The key-file tests check that OpenSSL reads the keys we write.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "${PORTCULLIS_SKIP_BROWSER:-}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
