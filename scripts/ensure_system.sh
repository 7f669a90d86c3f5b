#!/usr/bin/env bash
# Installs the Debian packages the gates need when they are missing, and starts the
# local PostgreSQL when it is installed but stopped. Root only; prints what it does.
set -uo pipefail

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_system: installing ${need[*]} (apt-get)"
    apt-get update -qq >/dev/null && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || echo "ensure_system: could not install ${need[*]}" >&2
  else
    echo "ensure_system: missing ${need[*]}; install them (sudo apt-get install ${need[*]})" >&2
  fi
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    for version in /etc/postgresql/*; do
      [ -d "$version/main" ] || continue
      echo "ensure_system: starting PostgreSQL $(basename "$version")"
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
    done
  fi
fi
exit 0
