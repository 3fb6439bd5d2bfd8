"""Clients from outside the project against a running crisisgraph: the Prometheus client library's
text parser on /metrics, and DuckDB reading the CSV and Parquet exports as a BI tool would.

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


def get_bytes(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


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


def parquet(base, sample):
    """The Parquet exports read by DuckDB: typed columns, and the sums of the same CSV export."""
    with open(f"{sample}/cod/mli_pop_adm0_v2.csv", encoding="utf-8-sig") as f:
        national = int(list(csv.DictReader(f))[0]["T_TL"])
    con = duckdb.connect()
    for name, query in [("population", "country=MLI&admin_level=0"), ("idps", "country=MLI"),
                        ("sites", "country=SSD")]:
        status, headers, body = get_bytes(f"{base}/export/{name}.parquet?{query}")
        check(status == 200 and headers.get("content-type") == "application/vnd.apache.parquet",
              f"{name}.parquet: {status} {headers.get('content-type')}")
        con.execute(f"CREATE TABLE {name}_parquet AS SELECT * FROM read_parquet(?)", [_write_bytes(body, ".parquet")])
        _, _, text = get(f"{base}/export/{name}.csv?{query}")
        con.execute(f"CREATE TABLE {name}_csv AS SELECT * FROM read_csv(?, header = true)", [_write(text)])

    def types(table):
        return {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}

    population, idps, sites = types("population_parquet"), types("idps_parquet"), types("sites_parquet")
    expected = [(population, "population", "BIGINT"), (population, "reference_year", "INTEGER"),
                (population, "admin_level", "INTEGER"), (population, "area_matched", "BOOLEAN"),
                (population, "retrieved_at", "TIMESTAMP WITH TIME ZONE"), (idps, "reporting_date", "DATE"),
                (idps, "idps", "BIGINT"), (idps, "round_number", "INTEGER"), (sites, "latitude", "DOUBLE")]
    for columns, column, kind in expected:
        check(columns.get(column) == kind, f"DuckDB reads the Parquet {column} as {columns.get(column)}, not {kind}")
    total = con.execute("SELECT SUM(population) FROM population_parquet").fetchone()[0]
    check(total == national, f"DuckDB sums the population Parquet export to {total}, the file says {national}")
    for table, column in [("population", "population"), ("idps", "idps"), ("sites", "latitude")]:
        ours, theirs = (con.execute(f"SELECT COUNT(*), SUM({column}) FROM {table}_{kind}").fetchone()
                        for kind in ("parquet", "csv"))
        check(ours[0] == theirs[0] and abs(ours[1] - theirs[1]) < 1e-6,
              f"{table}: Parquet {ours} rows and sum of {column}, CSV {theirs}")
    rows, latest = con.execute("SELECT COUNT(*), MAX(reporting_date) FROM idps_parquet").fetchone()
    print(f"parquet: DuckDB reads dates as DATE, counts as BIGINT/INTEGER, coordinates as DOUBLE; Mali's population "
          f"{total} (the file's total); {rows} Mali IDP rows up to {latest}, the same rows and sums as the CSV")


def _write_bytes(data, suffix):
    f = tempfile.NamedTemporaryFile("wb", suffix=suffix, delete=False)
    f.write(data)
    f.close()
    return f.name


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
    parquet(base, sample)
