#!/usr/bin/env bash
# The whole test suite on a fresh machine: starts Redis, PostgreSQL and NATS
# (JetStream) if they are down, installs Chromium and the Python dependencies, then runs pytest
# (unit, integration and Playwright end-to-end). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
# NATS with JetStream, for the log consumer tests (tests/integration/consume).
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
    if [ ! -x /usr/sbin/nats-server ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    fi
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q \
        && (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
    sleep 0.2
done

# Debian's full Chromium: Playwright cannot download browsers here, and the
# service worker and notification tests need the full browser, not a headless shell.
# nginx: the reverse-proxy test runs two nodes behind it. Node: Pyodide's tests of the Python client.
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v node >/dev/null || missing="$missing nodejs"
if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
export PATH="$PATH:/usr/sbin"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# The Python client (clients/python) is a distribution of its own; its tests run against the server.
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]" -e "clients/python[httpx]"

exec .venv/bin/python -m pytest "$@"
