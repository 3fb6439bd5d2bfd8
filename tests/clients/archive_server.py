"""Serves, over plain HTTP on loopback, the payloads a crisisgraph SQLite store has archived (its
`fetches` and `raw_payloads` tables), at the path and query they were fetched from, whatever the host:
point CRISISGRAPH_HDX_URL / CRISISGRAPH_DTM_URL / CRISISGRAPH_FTS_URL at it and an online ingest fetches
what `serve --sample` archived, through the real HTTP path. Each answer waits DELAY seconds, so that a
browser can watch a run in progress. Usage: archive_server.py DB PORT [DELAY]."""
import sqlite3
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DB, PORT = sys.argv[1], int(sys.argv[2])
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0


def payload_for(target):
    db = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, timeout=10)
    try:
        for url, sha in db.execute(
            "SELECT url, payload_sha256 FROM fetches WHERE payload_sha256 IS NOT NULL ORDER BY id DESC"
        ):
            parts = urlsplit(url)
            if parts.path + (f"?{parts.query}" if parts.query else "") == target:
                head = db.execute("SELECT body FROM raw_payloads WHERE sha256 = ?", (sha,)).fetchone()
                chunks = db.execute(
                    "SELECT bytes FROM raw_payload_chunks WHERE sha256 = ? ORDER BY seq", (sha,)
                ).fetchall()
                return (head[0] if head else b"") + b"".join(c[0] for c in chunks)
        return None
    finally:
        db.close()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(DELAY)
        body = payload_for(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("archive server: " + (format % args) + "\n")


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
