#!/usr/bin/env python3
"""Times GET /api/v1/traces/{id} for the ids bench/store_bench wrote (--ids-out).

Usage: trace_lookup.py HOST:PORT API_KEY IDS_FILE LABEL

Each request is timed from sending it to having read the whole body over one kept-alive
connection. A stored id must answer 200 with at least one span, an unknown id 404; anything
else stops the run with an error, so a wrong tenant or a broken look-up cannot pass as fast.
"""
import http.client
import json
import sys
import time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    addr, key, ids_file, label = sys.argv[1:5]
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    times = {"hit": [], "miss": []}
    spans = 0
    with open(ids_file) as f:
        ids = [line.split() for line in f if line.strip()]
    for kind, trace_id in ids:
        start = time.perf_counter()
        conn.request("GET", f"/api/v1/traces/{trace_id}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - start) * 1000
        if kind == "hit":
            if resp.status != 200:
                sys.exit(f"trace {trace_id}: status {resp.status}: {body[:200]!r}")
            doc = json.loads(body)
            n = sum(len(ss.get("spans", [])) for rs in doc.get("resourceSpans", [])
                    for ss in rs.get("scopeSpans", []))
            if n == 0:
                sys.exit(f"trace {trace_id}: 200 without spans")
            spans += n
        elif resp.status != 404:
            sys.exit(f"unknown trace {trace_id}: status {resp.status}, want 404")
        times[kind].append(elapsed)
    for kind in ("hit", "miss"):
        t = times[kind]
        what = "stored ids" if kind == "hit" else "unknown ids"
        extra = f" ({spans / len(t):.1f} spans each)" if kind == "hit" else ""
        print(f"{label}: {what}: n={len(t)} p50={pct(t, 0.5):.2f} ms p99={pct(t, 0.99):.2f} ms "
              f"max={max(t):.2f} ms{extra}")


if __name__ == "__main__":
    main()
