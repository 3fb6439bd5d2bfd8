#!/usr/bin/env bash
# Real clients nobody on the project wrote, against `crisisgraph serve --sample` on loopback:
#  - graphql-http's `auditServer` (the GraphQL-over-HTTP audit suite): every MUST, SHOULD and MAY;
#  - graphql-js: the standard introspection query, `buildClientSchema`, printed equal to schema.graphql;
#  - prometheus_client's text parser on /metrics; DuckDB reading the CSV and Parquet exports (column types,
#    and the Parquet's rows and sums equal to the CSV's);
#  - python-odata on the OData feed: its model built from $metadata (navigation properties included), a
#    next-link walk and $expand, against the sample's files; xmllint: $metadata against the CSDL subset in
#    odata-schemas/ (see its README: the OASIS files are not vendored).
# Installs its own pinned dependencies (npm ci here; pip into the target directory's client-venv). Fails on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

cargo build --quiet
# Cargo's target directory (CARGO_TARGET_DIR when set, as on a machine shared by several builds).
target="${CARGO_TARGET_DIR:-target}"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
venv="$target/client-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    echo "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

command -v xmllint >/dev/null 2>&1 || {
  echo "installing libxml2-utils (xmllint)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null
}

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env -u CRISISGRAPH_CONFIG -u CRISISGRAPH_OPERATOR_TOKEN DATABASE_URL="$work/clients.db" \
  "$target/debug/crisisgraph" serve --sample --no-scheduler --bind "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "serve --sample did not start:"; cat "$work/serve.log"; exit 1; }

base="http://127.0.0.1:$port"
node "$here/audit.mjs" "$base/graphql"
node "$here/introspection.mjs" "$base/graphql" schema.graphql
"$venv/bin/python" "$here/metrics_and_exports.py" "$base" sample
curl -fsS "$base/odata/\$metadata" -o "$work/metadata.xml"
xmllint --noout --schema "$here/odata-schemas/edmx.xsd" "$work/metadata.xml"
"$venv/bin/python" "$here/odata_feed.py" "$base" sample
echo "client checks passed"
