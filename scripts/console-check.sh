#!/usr/bin/env bash
# Checks the operator console (/console) in a real headless browser (Debian's chromium, driven over the
# DevTools protocol by npm puppeteer-core; no browser download): `serve --sample` with an operator token
# on loopback, its HDX/DTM/FTS base URLs pointed at a local server replaying the payloads the sample
# archived (tests/clients/archive_server.py, 1 s per answer so the run can be watched), then
# tests/clients/console.mjs: the sources page with each source's freshness, read-only without the token,
# the token entered, a dry run of food security (its sample rejects rows) followed to its end, its page
# with its rejected rows and their CSV. Screenshots: target/console-*.png (desktop 1400x900: sources,
# run started, run page; phone 390x844: sources, run page, runs). Installs chromium if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=tests/clients

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

cargo build --quiet
(cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
bin="${CARGO_TARGET_DIR:-target}/debug/crisisgraph"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
archive_port="$(free_port)"
token="console-check-$RANDOM$RANDOM"
archive="http://127.0.0.1:$archive_port"
env -u CRISISGRAPH_CONFIG DATABASE_URL="$work/console.db" CRISISGRAPH_OPERATOR_TOKEN="$token" \
  CRISISGRAPH_HDX_URL="$archive" CRISISGRAPH_DTM_URL="$archive" CRISISGRAPH_FTS_URL="$archive" CRISISGRAPH_DTM_KEY=check \
  "$bin" serve --sample --no-scheduler --bind "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
archiver=""
trap 'kill $server 2>/dev/null || true; [ -n "$archiver" ] && kill $archiver 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "serve --sample did not start:"; cat "$work/serve.log"; exit 1; }
python3 "$clients/archive_server.py" "$work/console.db" "$archive_port" 1 2>"$work/archive.log" &
archiver=$!

mkdir -p target
if ! node "$clients/console.mjs" "http://127.0.0.1:$port" "$token" food-security "MLI, TCD" "$PWD/target"; then
  echo "--- serve log (tail)"; tail -n 30 "$work/serve.log"
  echo "--- archive server log (tail)"; tail -n 30 "$work/archive.log"
  exit 1
fi
