#!/usr/bin/env python3
"""PromQL over HTTP against ObserveX, Prometheus and VictoriaMetrics (bench/promql_peers.sh).

  promql_peers.py check  --systems FILE --time T QUERY...   prints each system's scalar answer
  promql_peers.py verify --systems FILE --start S --end E --step D [--settled-from T]
  promql_peers.py time   --systems FILE --start S --end E --step D --runs N

FILE holds one system per line: "name<TAB>base URL<TAB>Authorization header or empty"; the
first line is ObserveX, the one every other system is compared with. The dashboard queries
are fixed (QUERIES below). `verify` compares answers: same series, same step timestamps,
values within a relative tolerance; it prints every difference it finds and exits 1 when a
system disagrees beyond its tolerance. `time` runs each query once per system to warm up, then
`runs` rounds (every system once per round, in rotating order), timing each request from
sending it to having read the whole body over a kept-alive connection; prints one markdown
table of median and minimum latencies and the ratios ObserveX / peer.
Only the standard library: no packages to install.
"""

import argparse
import http.client
import json
import math
import statistics
import sys
import time
import urllib.parse

# (name, kind, PromQL). kind: "range" over [start, end] at step, "instant" at end.
QUERIES = [
    ("sum by (job) (rate)", "range", "sum by (job) (rate(http_server_requests_total[5m]))"),
    ("histogram_quantile p99", "range",
     "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))"),
    ("topk(5, rate)", "range", "topk(5, rate(http_server_requests_total[5m]))"),
    ("regex matcher, sum(rate)", "range",
     'sum(rate(http_server_requests_total{instance=~"10.1.0.[1-3].*"}[5m]))'),
    ("instant sum by (job) (gauge)", "instant", "sum by (job) (process_resident_memory_bytes)"),
]

# Relative tolerance per peer. Prometheus computes what ObserveX computes (float sums may
# differ in the last bits with another summation order). VictoriaMetrics's rate() is its own:
# it uses the sample before the window and does not extrapolate to the window's edges, so its
# rates differ by up to a few percent by design; its answers are reported, not required equal.
TOLERANCE = {"Prometheus": 1e-9, "VictoriaMetrics": None}


class System:
    def __init__(self, name, base, auth):
        self.name = name
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path.rstrip("/")
        self.headers = {"Authorization": auth} if auth else {}
        self.conn = None

    def get(self, path, params):
        """Returns (seconds, status, body bytes); reconnects once if the server closed."""
        url = self.prefix + path + "?" + urllib.parse.urlencode(params)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", url, headers=self.headers)
                resp = self.conn.getresponse()
                body = resp.read()
                elapsed = time.perf_counter() - t0
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return elapsed, resp.status, body
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def query(self, kind, q, start, end, step):
        if kind == "range":
            params = {"query": q, "start": start, "end": end, "step": step}
            path = "/api/v1/query_range"
        else:
            params = {"query": q, "time": end}
            path = "/api/v1/query"
        return self.get(path, params)


def load_systems(path):
    systems = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, base, auth = (line.split("\t") + ["", ""])[:3]
                systems.append(System(name, base, auth))
    return systems


def decode(body):
    """{labels tuple: {t: value}} from a Prometheus API answer (vector or matrix)."""
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise ValueError(f"{doc.get('errorType')}: {doc.get('error')}")
    out = {}
    for s in doc["data"]["result"]:
        key = tuple(sorted(s["metric"].items()))
        points = s.get("values") or [s["value"]]
        out[key] = {round(float(t) * 1000): float(v) for t, v in points}
    return out


def fmt_labels(key):
    return "{" + ",".join(f'{k}="{v}"' for k, v in key) + "}"


def rel_diff(a, b):
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def restrict(answer, from_ms):
    """The answer's points at or after from_ms; series left without points are dropped."""
    out = {}
    for k, pts in answer.items():
        kept = {t: v for t, v in pts.items() if t >= from_ms}
        if kept:
            out[k] = kept
    return out


def compare(ref, got):
    """Differences between two decoded answers: (problems, [(rel diff, labels, t, ref, got)])."""
    problems, diffs = [], []
    missing = [k for k in ref if k not in got]
    extra = [k for k in got if k not in ref]
    if missing:
        problems.append(f"{len(missing)} series only in ObserveX's answer, e.g. {fmt_labels(missing[0])}")
    if extra:
        problems.append(f"{len(extra)} series missing from ObserveX's answer, e.g. {fmt_labels(extra[0])}")
    ts_mismatch = 0
    steps = set()  # steps at which a series is in one answer only
    for k, pts in ref.items():
        other = got.get(k, {})
        if set(pts) != set(other):
            ts_mismatch += 1
            steps |= set(pts) ^ set(other)
        for t, v in pts.items():
            if t in other:
                diffs.append((rel_diff(v, other[t]), k, t, v, other[t]))
    for k, pts in got.items():
        if k not in ref:
            steps |= set(pts)
    if ts_mismatch:
        # A selection such as topk may pick either of two series with exactly equal values:
        # that is a tie, not a wrong answer, when the values at those steps agree.
        def values_at(answer, t):
            return sorted(p[t] for p in answer.values() if t in p)
        ties = all(values_at(ref, t) == values_at(got, t) for t in steps)
        if ties:
            problems.append(f"TIE: {ts_mismatch} series at {len(steps)} step(s) picked "
                            "differently among series with exactly equal values")
        else:
            problems.append(f"{ts_mismatch} series with other step timestamps")
    return problems, diffs


def cmd_check(args):
    systems = load_systems(args.systems)
    answers = []
    for s in systems:
        row = []
        for q in args.queries:
            _, status, body = s.query("instant", q, None, args.time, None)
            if status != 200:
                row.append(f"HTTP {status}")
                continue
            res = decode(body)
            vals = [v for pts in res.values() for v in pts.values()]
            row.append(f"{vals[0]:.17g}" if len(vals) == 1 else f"{len(vals)} values")
        answers.append(row)
        print(f"{s.name}: " + "; ".join(f"{q} = {a}" for q, a in zip(args.queries, row)))
    return 0 if all(a == answers[0] for a in answers) else 1


def cmd_verify(args):
    systems = load_systems(args.systems)
    ok = True
    for qname, kind, q in QUERIES:
        answers = {}
        for s in systems:
            _, status, body = s.query(kind, q, args.start, args.end, args.step)
            if status != 200:
                print(f"MISMATCH {qname}: {s.name} answered HTTP {status}: {body[:300]!r}")
                ok = False
                continue
            answers[s.name] = decode(body)
        ref_name = systems[0].name
        ref = answers.get(ref_name)
        if ref is None:
            continue
        npts = sum(len(p) for p in ref.values())
        print(f"{qname}: {ref_name} {len(ref)} series, {npts} points")
        for s in systems[1:]:
            got = answers.get(s.name)
            if got is None:
                continue
            if args.settled_from:
                # Prometheus before 3.0 caps a counter's extrapolation towards the window's
                # start at the counter's zero point before testing whether the first sample
                # is close enough to the start to extrapolate at all; Prometheus 3 (and
                # ObserveX) test first. VictoriaMetrics extrapolates a series' first window its
                # own way. That only matters while a window reaches back before a series'
                # first sample, i.e. in the first steps of the data set.
                early = compare(ref, got)[1]
                early_diff = sum(1 for d in early if d[2] < args.settled_from and d[0] > 1e-9)
                if early_diff:
                    print(f"  {s.name}: {early_diff} points before "
                          f"{args.settled_from / 1000:.0f} differ (windows reaching before the "
                          f"series' first samples), not compared")
                problems, diffs = compare(restrict(ref, args.settled_from),
                                          restrict(got, args.settled_from))
            else:
                problems, diffs = compare(ref, got)
            tol = TOLERANCE.get(s.name)
            worst = max(diffs, key=lambda d: d[0]) if diffs else None
            within1 = sum(1 for d in diffs if d[0] <= 0.01)
            line = (f"  {s.name}: {len(got)} series, {sum(len(p) for p in got.values())} points; "
                    f"{len(diffs)} common points, median rel. diff "
                    f"{statistics.median([d[0] for d in diffs]) if diffs else 0:.2e}, "
                    f"max {worst[0] if worst else 0:.2e}, {within1} within 1 %")
            print(line)
            if worst and worst[0] > 0:
                print(f"    largest: {fmt_labels(worst[1])} at {worst[2] / 1000:.3f}: "
                      f"ObserveX {worst[3]!r}, {s.name} {worst[4]!r}")
            bad = [d for d in diffs if tol is not None and d[0] > tol]
            for p in [p for p in problems if p.startswith("TIE: ")]:
                print(f"    tie (not a mismatch): {p[5:]}")
            problems = [p for p in problems if not p.startswith("TIE: ")]
            if tol is not None and (problems or bad):
                ok = False
                for p in problems:
                    print(f"    MISMATCH {qname} vs {s.name}: {p}")
                if bad:
                    print(f"    MISMATCH {qname} vs {s.name}: {len(bad)} points beyond "
                          f"relative {tol:g}")
            elif problems:
                for p in problems:
                    print(f"    differs (expected for {s.name}): {p}")
    return 0 if ok else 1


def cmd_time(args):
    systems = load_systems(args.systems)
    ref = systems[0].name
    rows = []
    for qname, kind, q in QUERIES:
        lat = {s.name: [] for s in systems}
        sizes = {}
        for s in systems:  # warm-up
            _, status, body = s.query(kind, q, args.start, args.end, args.step)
            if status != 200:
                print(f"{s.name}: HTTP {status} for {q}: {body[:300]!r}", file=sys.stderr)
                return 1
            sizes[s.name] = len(body)
        for r in range(args.runs):
            order = systems[r % len(systems):] + systems[:r % len(systems)]
            for s in order:
                elapsed, status, _ = s.query(kind, q, args.start, args.end, args.step)
                if status != 200:
                    print(f"{s.name}: HTTP {status} for {q}", file=sys.stderr)
                    return 1
                lat[s.name].append(elapsed * 1000)
        rows.append((qname, kind, q, lat, sizes))
        print(f"{qname}: " + ", ".join(
            f"{n} {statistics.median(v):.1f} ms" for n, v in lat.items()), file=sys.stderr)

    names = [s.name for s in systems]
    head = ["query"] + [f"{n} median (min), ms" for n in names] + \
        [f"{ref} / {n}" for n in names[1:]]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for qname, kind, q, lat, sizes in rows:
        med = {n: statistics.median(v) for n, v in lat.items()}
        cells = [f"`{q}`" + (" (instant)" if kind == "instant" else "")]
        cells += [f"{med[n]:.1f} ({min(lat[n]):.1f})" for n in names]
        cells += [f"{med[ref] / med[n]:.2f}" for n in names[1:]]
        print("| " + " | ".join(cells) + " |")
    print()
    print("Answer sizes (bytes of JSON): " + "; ".join(
        f"{qname}: " + ", ".join(f"{n} {sizes[n]}" for n in names)
        for qname, _, _, _, sizes in rows))
    print("Every latency (ms): " + "; ".join(
        f"{qname}: " + ", ".join(f"{n} " + "/".join(f"{x:.1f}" for x in lat[n]) for n in names)
        for qname, _, _, lat, _ in rows))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--systems", required=True)
    c.add_argument("--time", required=True)
    c.add_argument("queries", nargs="+")
    for name in ("verify", "time"):
        v = sub.add_parser(name)
        v.add_argument("--systems", required=True)
        v.add_argument("--start", required=True)
        v.add_argument("--end", required=True)
        v.add_argument("--step", required=True)
        if name == "time":
            v.add_argument("--runs", type=int, default=5)
        else:
            v.add_argument("--settled-from", type=lambda x: int(float(x) * 1000), default=0,
                           help="compare answers only from this time (s) on")
    args = p.parse_args()
    return {"check": cmd_check, "verify": cmd_verify, "time": cmd_time}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
