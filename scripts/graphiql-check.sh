#!/usr/bin/env bash
# Checks GraphiQL in a real headless browser: `serve --sample` on loopback, Debian's chromium opens
# /graphiql?run=1 (which runs the preloaded Mali query), the page must show 311193 (IOM DTM's October
# 2020 figure), and a screenshot is kept in target/graphiql.png. Installs chromium if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

cargo build --quiet
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DATABASE_URL="$work/graphiql.db" ./target/debug/crisisgraph serve --sample --no-scheduler --bind "127.0.0.1:$port" \
  >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

browser=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
         --disable-component-update --disable-sync --window-size=1400,1200 --virtual-time-budget=20000)
url="http://127.0.0.1:$port/graphiql?run=1"
timeout 120 "${browser[@]}" --user-data-dir="$work/profile-dom" --dump-dom "$url" 2>/dev/null >"$work/dom.html"
mkdir -p target
timeout 120 "${browser[@]}" --user-data-dir="$work/profile-shot" --screenshot="$PWD/target/graphiql.png" "$url" >/dev/null 2>&1 || true

if grep -q "311193" "$work/dom.html" && grep -q "MaliIdpsPerRound" "$work/dom.html"; then
  echo "GraphiQL check passed: the preloaded query ran and shows 311193 (screenshot: target/graphiql.png)"
else
  echo "GraphiQL check FAILED: the page did not show the answer"; exit 1
fi
