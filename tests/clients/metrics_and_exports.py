"""Clients from outside the project against a running crisisgraph: the Prometheus client library's
text parser on /metrics, and DuckDB reading the CSV exports as a BI tool would.

Usage: python metrics_and_exports.py http://127.0.0.1:PORT path/to/sample
Exits non-zero on the first failed check.
"""

import csv
import sys
import tempfile
import urllib.request

import duckdb
from prometheus_client.parser import text_string_to_metric_families

SOURCES = ["geography", "dtm", "catalog", "population", "funding", "sites"]


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read().decode("utf-8")


def check(condition, message):
    if not condition:
        print(f"FAIL {message}")
        sys.exit(1)


def metrics(base):
    # A request first, so that the HTTP metrics have a series.
    get(f"{base}/graphql?query=%7B__typename%7D")
    _, headers, text = get(f"{base}/metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    for source in SOURCES:
        for name in ("crisisgraph_source_stale", "crisisgraph_source_failing",
                     "crisisgraph_source_last_success_timestamp_seconds"):
            check(value(name, source=source) is not None, f"{name}{{source={source}}} is missing")
    check(value("crisisgraph_source_last_success_timestamp_seconds", source="catalog") == 0,
          "catalog never ran in the sample: its last success is 0")
    check(value("crisisgraph_source_stale", source="catalog") == 1, "catalog is stale")
    check(value("crisisgraph_source_last_success_timestamp_seconds", source="dtm") > 1e9, "dtm succeeded")
    # The parser names a counter's family without its `_total` suffix.
    check(families["crisisgraph_ingest_runs"].type == "counter", "runs are a counter")
    check(families["crisisgraph_http_request_duration_seconds"].type == "histogram", "latency is a histogram")
    graphql = {"route": "/graphql", "method": "GET", "status": "200"}
    check((value("crisisgraph_http_requests_total", **graphql) or 0) >= 1, "GET /graphql is counted")
    check((value("crisisgraph_http_request_duration_seconds_count", **graphql) or 0) >= 1, "and timed")
    print(f"metrics: prometheus_client parsed {len(families)} families; sources, staleness and HTTP series present")


def exports(base, sample):
    with open(f"{sample}/cod/mli_pop_adm0_v2.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    national = int(rows[0]["T_TL"])
    _, _, body = get(f"{base}/export/population.csv?country=MLI&admin_level=0")
    con = duckdb.connect()
    con.execute("CREATE TABLE population AS SELECT * FROM read_csv(?, header = true)", [_write(body)])
    total = con.execute("SELECT SUM(population) FROM population").fetchone()[0]
    check(total == national, f"DuckDB sums the population export to {total}, the file says {national}")
    _, _, body = get(f"{base}/export/idps.csv?country=MLI&admin_level=0")
    con.execute("CREATE TABLE idps AS SELECT * FROM read_csv(?, header = true)", [_write(body)])
    licence, url, retrieved = con.execute("SELECT licence, licence_url, typeof(retrieved_at) FROM idps LIMIT 1").fetchone()
    check(licence.startswith("IOM terms of use") and url.startswith("https://"), f"licence {licence!r} {url!r}")
    check(retrieved.startswith("TIMESTAMP"), f"DuckDB reads retrieved_at as an instant, not {retrieved}")
    print(f"exports: DuckDB sums Mali's population export to {total} (the file's total); licence and instants read right")


def _write(text):
    """The text in a temporary CSV file, for DuckDB to read."""
    f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")
    f.write(text)
    f.close()
    return f.name


if __name__ == "__main__":
    base, sample = sys.argv[1], sys.argv[2]
    metrics(base)
    exports(base, sample)
