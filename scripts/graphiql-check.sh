#!/usr/bin/env bash
# Checks GraphiQL in a real headless browser: `serve --sample` on loopback, Debian's chromium opens
#  1. /graphiql as a new user does (no parameters): the documentation explorer must show the schema's
#     root types, read by GraphiQL's own introspection query (not "Error fetching schema");
#  2. /graphiql?run=1 (which runs the preloaded Mali query): the page must show 311193 (IOM DTM's
#     October 2020 figure).
# Screenshots are kept in target/graphiql-docs.png and target/graphiql.png. Installs chromium if missing.
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
mkdir -p target
# $1: URL, $2: profile name, $3: screenshot file. The DOM goes to $work/$2.html.
open_page() {
  timeout 120 "${browser[@]}" --user-data-dir="$work/profile-$2" --dump-dom "$1" 2>/dev/null >"$work/$2.html"
  timeout 120 "${browser[@]}" --user-data-dir="$work/profile-$2-shot" --screenshot="$PWD/target/$3" "$1" \
    >/dev/null 2>&1 || true
}

open_page "http://127.0.0.1:$port/graphiql" docs graphiql-docs.png
if grep -q "Error fetching schema" "$work/docs.html" || ! grep -q "graphiql-doc-explorer-root-type" "$work/docs.html"; then
  echo "GraphiQL check FAILED: the documentation explorer did not show the schema (target/graphiql-docs.png)"
  exit 1
fi
echo "GraphiQL check passed: /graphiql loaded the schema into the documentation explorer (target/graphiql-docs.png)"

open_page "http://127.0.0.1:$port/graphiql?run=1" run graphiql.png
if grep -q "311193" "$work/run.html" && grep -q "MaliIdpsPerRound" "$work/run.html"; then
  echo "GraphiQL check passed: the preloaded query ran and shows 311193 (screenshot: target/graphiql.png)"
else
  echo "GraphiQL check FAILED: the page did not show the answer"; exit 1
fi
