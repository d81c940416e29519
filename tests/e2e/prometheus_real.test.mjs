// ObserveX against a real Prometheus (Debian's `prometheus`, 2.42). Prometheus scrapes
// itself and ObserveX's /metrics and remote-writes everything it stores to ObserveX; then
// the same PromQL queries and metadata look-ups go to both servers' HTTP APIs and the
// answers must agree: label sets exactly, values within a relative 1e-9. The same run
// checks tenant isolation through every Prometheus endpoint of the real server, and that a
// remote write without a key gets 401 while Prometheus keeps running.
//
// Without a `prometheus` executable (PATH or PROMETHEUS_BIN) the suite is skipped with a
// message saying so; ctest reports it as skipped, never as passed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { unknownKey } from './lib/otlp.mjs';
import {
  PrometheusServer, findPrometheus, promApi, promData, snappyLiteral, writeRequest,
} from './lib/prometheus.mjs';
import { createKey, startServer, stopAll } from './lib/server.mjs';

const PROMETHEUS = findPrometheus();
const SKIP = PROMETHEUS ? false
  : 'skipped: no prometheus executable on PATH (Debian package `prometheus`, installed by ' +
    'scripts/install-deps.sh with the benchmark peers; or set PROMETHEUS_BIN)';

const PROM_INTERVAL_MS = 1000;     // Prometheus scraping itself
const OBX_INTERVAL_MS = 2000;      // Prometheus scraping ObserveX's /metrics
const SCRAPE_FOR_MS = 30_000;      // scraping from the first scrapes to the comparisons
const LOOKUP_SPAN_MS = 20_000;     // the series and label look-ups cover [T-20s, T]
const RANGE_SPAN_MS = 10_000;      // the range queries cover [T-10s, T] ...
const RANGE_STEP_MS = 500;         // ... in 21 steps
const WINDOWS_MS = [10_000, 60_000, 300_000];  // the range selectors ([10s], [1m]) and the lookback
const REL_TOLERANCE = 1e-9;
const TENANT = 'promreal';
const OTHER = 'other';

const sec = (ms) => (ms / 1000).toFixed(3);
const toMs = (s) => Math.round(Number(s) * 1000);

function parseValue(s) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`not a sample value: ${JSON.stringify(s)}`);
  return v;
}

function sameValue(a, b) {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= REL_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

const labelKey = (metric) => JSON.stringify(Object.entries(metric).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

// Differences between two `data` objects of /query or /query_range, as readable lines
// (empty when they agree). Order of series is ignored: neither API promises one here.
function diffResults(prom, obx, limit = 20) {
  const out = [];
  if (prom.resultType !== obx.resultType) return [`resultType ${prom.resultType} vs ${obx.resultType}`];
  if (prom.resultType === 'scalar' || prom.resultType === 'string') {
    const [pt, pv] = prom.result;
    const [ot, ov] = obx.result;
    if (toMs(pt) !== toMs(ot) || !sameValue(parseValue(pv), parseValue(ov))) {
      out.push(`prometheus ${JSON.stringify(prom.result)} vs observex ${JSON.stringify(obx.result)}`);
    }
    return out;
  }
  const points = (s) => (prom.resultType === 'vector' ? [s.value] : s.values);
  const byKey = (r) => new Map(r.map((s) => [labelKey(s.metric), points(s)]));
  const p = byKey(prom.result);
  const o = byKey(obx.result);
  if (p.size !== prom.result.length || o.size !== obx.result.length) out.push('duplicate label sets in a result');
  for (const [k, pp] of p) {
    const op = o.get(k);
    if (!op) {
      out.push(`only in prometheus: ${k} ${JSON.stringify(pp.slice(0, 3))}`);
      continue;
    }
    if (pp.length !== op.length) {
      out.push(`${k}: ${pp.length} points in prometheus, ${op.length} in observex: ` +
               `${JSON.stringify(pp.slice(0, 4))} vs ${JSON.stringify(op.slice(0, 4))}`);
      continue;
    }
    for (let i = 0; i < pp.length; i++) {
      if (toMs(pp[i][0]) !== toMs(op[i][0]) || !sameValue(parseValue(pp[i][1]), parseValue(op[i][1]))) {
        out.push(`${k} at point ${i}: prometheus ${JSON.stringify(pp[i])} vs observex ${JSON.stringify(op[i])}`);
        break;
      }
    }
  }
  for (const [k, op] of o) {
    if (!p.has(k)) out.push(`only in observex: ${k} ${JSON.stringify(op.slice(0, 3))}`);
  }
  return out.length > limit ? [...out.slice(0, limit), `... and ${out.length - limit} more`] : out;
}

// rate() of a counter over (rangeStart, rangeEnd] from its samples [[ms, value], ...],
// with the extrapolation rule of Prometheus 3 or of 2.42 (they order the "no further
// than half an interval" and "not below zero" limits on the left side differently).
function counterRate(points, rangeStart, rangeEnd, rule) {
  if (points.length < 2) return undefined;
  let increase = points[points.length - 1][1] - points[0][1];
  for (let i = 1; i < points.length; i++) if (points[i][1] < points[i - 1][1]) increase += points[i - 1][1];
  const [firstT, firstV] = points[0];
  const lastT = points[points.length - 1][0];
  const sampled = (lastT - firstT) / 1000;
  const avg = sampled / (points.length - 1);
  const threshold = avg * 1.1;
  const toZero = increase > 0 && firstV >= 0 ? sampled * (firstV / increase) : Infinity;
  let toStart = (firstT - rangeStart) / 1000;
  let toEnd = (rangeEnd - lastT) / 1000;
  if (rule === 'prometheus3') {
    if (toStart >= threshold) toStart = avg / 2;
    toStart = Math.min(toStart, toZero);
  } else {
    toStart = Math.min(toStart, toZero);
    if (toStart >= threshold) toStart = avg / 2;
  }
  if (toEnd >= threshold) toEnd = avg / 2;
  return (increase * ((sampled + toStart + toEnd) / sampled)) / ((rangeEnd - rangeStart) / 1000);
}

let obx;
let prom;
let key;
let otherKey;
let T;                  // evaluation time of the instant queries, ms
const runId = `r${process.pid}x${Date.now().toString(36)}`;

after(async () => {
  await prom?.dispose();
  await obx?.dispose();
  await stopAll();
});

// Every endpoint the comparisons use, once on each server, before the window they look
// at: the first call of an endpoint creates new series on both sides (Prometheus's
// prometheus_http_requests_total{handler=...}, ObserveX's request counters), and those must
// exist before T - 20 s so that the series and label look-ups see a settled set.
async function warmUp() {
  const now = Date.now();
  const paths = [
    ['/api/v1/query', { query: 'up', time: sec(now) }],
    ['/api/v1/query_range', { query: 'up', start: sec(now - 5000), end: sec(now), step: '1' }],
    ['/api/v1/series', { 'match[]': 'up', start: sec(now - 5000), end: sec(now) }],
    ['/api/v1/labels', { start: sec(now - 5000), end: sec(now) }],
    ['/api/v1/label/job/values', { start: sec(now - 5000), end: sec(now) }],
    ['/api/v1/label/__name__/values', {}],
    ['/api/v1/metadata', { metric: 'up' }],
  ];
  for (const [p, params] of paths) {
    await promData(prom.url, p, params);
    await promData(`${obx.apiUrl}/prom`, p, params, { key });
  }
}

// Timestamps (ms) of every scrape Prometheus made: each scrape stamps all its samples,
// `up` included, with the scrape's start, and nothing else writes samples here.
async function scrapeTimestamps(now) {
  const d = await promData(prom.url, '/api/v1/query', { query: 'up[5m]', time: sec(now) });
  const all = new Set();
  const perJob = {};
  for (const s of d.result) {
    perJob[s.metric.job] = s.values.map(([t]) => toMs(t));
    for (const [t] of s.values) all.add(toMs(t));
  }
  return { all, perJob };
}

// Prometheus 2.42 counts a sample lying exactly on a window's start (range selectors, the
// 5 m lookback); Prometheus 3 and ObserveX do not (left-open windows). Scrape timestamps
// have millisecond precision and a per-target phase, so an evaluation time that is
// neither a scrape time nor a scrape time plus a window length is evaluated alike by
// both; this picks such a T (and a range [T-10s, T] whose steps all qualify, and a
// subquery [10s:1s] whose steps, at whole seconds, do too), starting 5.5 s before now and
// moving back one millisecond at a time.
function chooseEvalTime(stamps, now) {
  const clear = (e) => !stamps.has(e) && WINDOWS_MS.every((w) => !stamps.has(e - w));
  for (let t = now - 5500; t > now - 6500; t--) {
    if (t % 1000 === 0) continue;  // the subquery's own window would start on a step
    let ok = true;
    for (let e = t; e >= t - RANGE_SPAN_MS && ok; e -= RANGE_STEP_MS) ok = clear(e);
    for (let e = t - (t % 1000); e > t - 10_000 && ok; e -= 1000) ok = clear(e);
    if (ok) return t;
  }
  throw new Error('no evaluation time within 1 s is clear of the scrape timestamps');
}

describe('Prometheus 2.42 remote-writing into ObserveX: the same answers', { skip: SKIP }, () => {
  before(async () => {
    obx = await startServer({ flags: { 'memory-budget': '256MiB' } });
    key = await createKey(obx.dataDir, TENANT);
    otherKey = await createKey(obx.dataDir, OTHER);
    prom = new PrometheusServer({ bin: PROMETHEUS });
    const writeUrl = `${obx.apiUrl}/prom/api/v1/write`;
    // One shard keeps the samples in the order Prometheus wrote them, so "the last scrape
    // arrived" means "every earlier one arrived". A short deadline sends every scrape at once.
    const queue = {
      min_shards: 1, max_shards: 1, capacity: 20_000, max_samples_per_send: 5000,
      batch_send_deadline: '100ms', min_backoff: '30ms', max_backoff: '1s', retry_on_http_429: true,
    };
    await prom.start((port) => ({
      global: { scrape_interval: `${PROM_INTERVAL_MS}ms`, scrape_timeout: `${PROM_INTERVAL_MS}ms` },
      scrape_configs: [
        { job_name: 'prometheus', static_configs: [{ targets: [`127.0.0.1:${port}`] }] },
        {
          job_name: 'observex', scrape_interval: `${OBX_INTERVAL_MS}ms`, scrape_timeout: `${OBX_INTERVAL_MS}ms`,
          static_configs: [{ targets: [`127.0.0.1:${obx.ports.api}`] }],
        },
      ],
      remote_write: [
        {
          name: 'observex', url: writeUrl, authorization: { credentials: key },
          queue_config: queue, metadata_config: { send: true, send_interval: '2s' },
        },
        // The same endpoint without credentials: every request gets 401.
        { name: 'nokey', url: writeUrl, queue_config: queue, metadata_config: { send: false } },
      ],
    }));
    // Prometheus applies its scrape targets about 5 s after it starts.
    for (const deadline = Date.now() + 30_000; ;) {
      const d = await promData(prom.url, '/api/v1/query', { query: 'up' });
      if (d.result.length === 2) break;
      assert.ok(Date.now() < deadline, `prometheus scraped no targets within 30 s: ${JSON.stringify(d)}`);
      await sleep(200);
    }
    const started = Date.now();
    await warmUp();
    const warm = Date.now() - started;
    while (Date.now() - started < SCRAPE_FOR_MS) {
      assert.ok(prom.alive, `prometheus exited while scraping:\n${prom.stderrTail}`);
      assert.ok(obx.alive, `observex exited while being written to:\n${obx.stderrTail}`);
      await sleep(500);
    }

    const now = Date.now();
    const { all, perJob } = await scrapeTimestamps(now);
    assert.deepEqual(Object.keys(perJob).sort(), ['observex', 'prometheus'], 'both targets are scraped');
    T = chooseEvalTime(all, now);
    const earliest = Math.min(...Object.values(perJob).map((v) => v[0]));
    assert.ok(earliest < T - LOOKUP_SPAN_MS,
      `the range [T-20s, T] lies within the scraped data: first scrape ${earliest}, T ${T}, now ${now}, ` +
      `scrapes ${JSON.stringify(perJob)}`);

    // Delivered: each job's `up` from a scrape at least 2 s after T is visible in ObserveX.
    // One shard sends samples in the order scrapes were committed, a batch at a time, so
    // every earlier scrape of that job has arrived too.
    const deadline = Date.now() + 20_000;
    let seen = {};
    for (;;) {
      const d = await promData(`${obx.apiUrl}/prom`, '/api/v1/query', { query: 'timestamp(up)' }, { key });
      seen = Object.fromEntries(d.result.map((s) => [s.metric.job, toMs(s.value[1])]));
      if (['prometheus', 'observex'].every((j) => seen[j] >= T + 2000)) break;
      assert.ok(Date.now() < deadline,
        `ObserveX does not show the scrapes after T=${T} within 20 s: latest up ${JSON.stringify(seen)}`);
      await sleep(200);
    }
    // Metadata goes out every 2 s, separately from the samples.
    for (;;) {
      const d = await promData(`${obx.apiUrl}/prom`, '/api/v1/metadata',
        { metric: 'prometheus_tsdb_head_series' }, { key });
      if (Object.keys(d).length) break;
      assert.ok(Date.now() < deadline, 'ObserveX got no metadata from Prometheus within 20 s');
      await sleep(200);
    }
    process.stderr.write(`# warm-up done after ${warm} ms; T = ${sec(T)} (now - ${now - T} ms); ` +
      `${perJob.prometheus.length} + ${perJob.observex.length} scrapes; ` +
      `delivered after ${Date.now() - now} ms\n`);
  }, { timeout: 90_000 });

  const both = async (apiPath, params) => ({
    prom: await promData(prom.url, apiPath, params),
    obx: await promData(`${obx.apiUrl}/prom`, apiPath, params, { key }),
  });

  // rate() and increase() use [10s] windows, which lie inside the scraped data for every
  // series here: where a window starts before a counter's first sample, Prometheus 2.42 and
  // 3 extrapolate differently (see the test after these), and ObserveX follows 3.
  const INSTANT = [
    'up',
    // Every series both servers hold, with its value at T: remote write lost, added or
    // changed nothing, and lookback and staleness markers are applied alike.
    '{__name__=~".+"}',
    'prometheus_tsdb_head_series',
    'count by (job) (up)',
    'count by (job) ({__name__=~".+"})',
    // Raw samples through range selectors.
    'up[1m]',
    'prometheus_http_requests_total[1m]',
    '{__name__=~"prometheus_tsdb_head_.*"}[10s]',
    'sum by (job) (rate(prometheus_http_requests_total[10s]))',
    'rate(prometheus_http_requests_total[10s])',
    'increase(prometheus_tsdb_head_samples_appended_total[10s])',
    'irate(prometheus_tsdb_head_samples_appended_total[1m])',
    'delta(prometheus_tsdb_head_series[1m])',
    'deriv(process_resident_memory_bytes[1m])',
    'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))',
    'histogram_quantile(0.5, rate(prometheus_http_request_duration_seconds_bucket[10s]))',
    'rate(prometheus_http_request_duration_seconds_sum[10s]) / rate(prometheus_http_request_duration_seconds_count[10s])',
    'prometheus_http_requests_total{handler=~"/api/v1/.+|/metrics", code=~"2.."}',
    '{__name__=~"prometheus_tsdb_head_.*", job!="observex"}',
    'max_over_time(scrape_duration_seconds[1m])',
    'avg_over_time(prometheus_tsdb_head_series[1m])',
    'count_over_time(up[1m])',
    'sum by (job) (scrape_samples_scraped) - on (job) sum by (job) (scrape_samples_post_metric_relabeling)',
    'sum without (handler) (prometheus_http_requests_total)',
    'prometheus_http_requests_total * on (instance, job) group_left up',
    'label_replace(up, "port", "$1", "instance", ".*:(.*)")',
    'count_values("value", up)',
    'quantile(0.5, scrape_duration_seconds)',
    'bottomk(1, scrape_duration_seconds)',
    'prometheus_tsdb_head_series offset 5s',
    'max_over_time(rate(prometheus_http_requests_total[10s])[10s:1s])',
    'up == bool 1',
    'absent(nonexistent_metric)',
    'absent(up)',
    'scalar(sum(up))',
  ];
  for (const query of INSTANT) {
    test(`instant ${query}`, async (t) => {
      const r = await both('/api/v1/query', { query, time: sec(T) });
      const diff = diffResults(r.prom, r.obx);
      assert.deepEqual(diff, [], `${query} at ${sec(T)} differs:\n${diff.join('\n')}`);
      const n = r.prom.resultType === 'scalar' ? 1 : r.prom.result.length;
      t.diagnostic(`${r.prom.resultType}, ${n} result(s) agree`);
    });
  }

  test('instant topk(3, prometheus_http_requests_total)', async (t) => {
    const query = 'topk(3, prometheus_http_requests_total)';
    const r = await both('/api/v1/query', { query, time: sec(T) });
    const all = await both('/api/v1/query', { query: 'prometheus_http_requests_total', time: sec(T) });
    assert.deepEqual(diffResults(all.prom, all.obx), [], 'the input of topk differs');
    const values = (res) => res.result.map((s) => parseValue(s.value[1]));
    // Both answer in descending order of value.
    assert.deepEqual(values(r.obx), values(r.prom), 'topk values (in answer order)');
    assert.equal(r.obx.result.length, 3);
    // Series tied with the third value may be picked either way; everything above it must
    // be the same series, and every pick must carry its own value.
    const third = values(r.prom)[2];
    const input = new Map(all.prom.result.map((s) => [labelKey(s.metric), parseValue(s.value[1])]));
    const above = (res) => res.result.filter((s) => parseValue(s.value[1]) > third).map((s) => labelKey(s.metric)).sort();
    assert.deepEqual(above(r.obx), above(r.prom));
    for (const s of r.obx.result) assert.equal(input.get(labelKey(s.metric)), parseValue(s.value[1]), labelKey(s.metric));
    t.diagnostic(`top values ${values(r.prom).join(', ')}`);
  });

  // A [1m] window at T starts before every series began, so rate() extrapolates towards
  // the window's start by at most half a scrape interval, and not past the counter's zero
  // point. Prometheus 3 (and ObserveX) take the smaller of the two; 2.42 checks the zero
  // point first and then extrapolates all the way to it when it is within 1.1 intervals.
  // This computes both from the raw samples: ObserveX must match the first, Prometheus 2.42
  // the second (which shows the model of the difference is right, not just different).
  test('rate over a [1m] window that starts before the series: Prometheus 3 semantics', async (t) => {
    const params = { time: sec(T) };
    const raw = await both('/api/v1/query', { query: 'prometheus_http_requests_total[1m]', ...params });
    assert.deepEqual(diffResults(raw.prom, raw.obx), [], 'the raw samples differ');
    const r = await both('/api/v1/query', { query: 'rate(prometheus_http_requests_total[1m])', ...params });
    const promByKey = new Map(r.prom.result.map((s) => [labelKey(s.metric), parseValue(s.value[1])]));
    const obxByKey = new Map(r.obx.result.map((s) => [labelKey(s.metric), parseValue(s.value[1])]));
    let differing = 0;
    let checked = 0;
    for (const s of raw.prom.result) {
      const labels = { ...s.metric };
      delete labels.__name__;  // rate() drops the name
      const k = labelKey(labels);
      const points = s.values.map(([ts, v]) => [toMs(ts), parseValue(v)]);
      const v3 = counterRate(points, T - 60_000, T, 'prometheus3');
      const v242 = counterRate(points, T - 60_000, T, 'prometheus2.42');
      if (v3 === undefined) {
        assert.ok(!promByKey.has(k) && !obxByKey.has(k), `${k}: one sample, no rate`);
        continue;
      }
      checked++;
      assert.ok(sameValue(obxByKey.get(k), v3), `${k}: observex ${obxByKey.get(k)}, Prometheus 3 rule ${v3}`);
      assert.ok(sameValue(promByKey.get(k), v242), `${k}: prometheus ${promByKey.get(k)}, 2.42 rule ${v242}`);
      if (!sameValue(v3, v242)) differing++;
    }
    assert.ok(checked > 0);
    assert.equal(obxByKey.size, checked);
    assert.equal(promByKey.size, checked);
    t.diagnostic(`${checked} series; the two rules differ on ${differing} of them`);
  });

  const RANGE = [
    'up',
    'sum by (job) (rate(prometheus_http_requests_total[10s]))',
    'rate(prometheus_tsdb_head_samples_appended_total[10s])',
    'count by (job) ({__name__=~".+"})',
    'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))',
    'max_over_time(scrape_duration_seconds[1m])',
  ];
  for (const query of RANGE) {
    test(`range ${query} over [T-10s, T] step 0.5s`, async (t) => {
      const params = { query, start: sec(T - RANGE_SPAN_MS), end: sec(T), step: String(RANGE_STEP_MS / 1000) };
      const r = await both('/api/v1/query_range', params);
      const diff = diffResults(r.prom, r.obx);
      assert.deepEqual(diff, [], `${query} over [${params.start}, ${params.end}] differs:\n${diff.join('\n')}`);
      const points = r.prom.result.reduce((n, s) => n + s.values.length, 0);
      assert.ok(points > 0, 'the range query has points');
      t.diagnostic(`${r.prom.result.length} series, ${points} points agree`);
    });
  }

  const window = () => ({ start: sec(T - LOOKUP_SPAN_MS), end: sec(T) });
  const sortedSeries = (list) => list.map((m) => labelKey(m)).sort();

  for (const match of ['up', 'prometheus_http_requests_total', '{job="observex"}', '{__name__=~"prometheus_tsdb_.*"}']) {
    test(`series match[]=${match} over [T-20s, T]`, async (t) => {
      const r = await both('/api/v1/series', { 'match[]': match, ...window() });
      assert.deepEqual(sortedSeries(r.obx), sortedSeries(r.prom));
      assert.ok(r.prom.length > 0);
      t.diagnostic(`${r.prom.length} series agree`);
    });
  }

  test('labels and label values over [T-20s, T]', async (t) => {
    const cases = [
      ['/api/v1/labels', {}],
      ['/api/v1/labels', { 'match[]': 'up' }],
      ['/api/v1/labels', { 'match[]': 'prometheus_http_requests_total' }],
      ['/api/v1/label/job/values', {}],
      ['/api/v1/label/__name__/values', {}],
      ['/api/v1/label/handler/values', { 'match[]': 'prometheus_http_requests_total' }],
    ];
    for (const [p, extra] of cases) {
      const r = await both(p, { ...extra, ...window() });
      assert.deepEqual(r.obx, r.prom, `${p} ${JSON.stringify(extra)}`);
    }
    const jobs = await promData(`${obx.apiUrl}/prom`, '/api/v1/label/job/values', window(), { key });
    assert.deepEqual(jobs, ['observex', 'prometheus']);
    t.diagnostic(`${cases.length} look-ups agree`);
  });

  test('metadata of the families both know', async (t) => {
    for (const metric of ['prometheus_http_requests_total', 'prometheus_tsdb_head_series',
      'prometheus_http_request_duration_seconds']) {
      const r = await both('/api/v1/metadata', { metric });
      assert.deepEqual(r.obx, r.prom, metric);
      assert.equal(r.prom[metric]?.length, 1, `${metric} has one metadata entry`);
    }
    // Whole-catalog comparison, for families one target exposes (ObserveX keeps the first
    // entry per family; Prometheus lists each distinct one per target).
    const r = await both('/api/v1/metadata', {});
    const single = Object.keys(r.prom).filter((m) => r.prom[m].length === 1).sort();
    const diffs = single.filter((m) => JSON.stringify(r.obx[m]) !== JSON.stringify(r.prom[m]));
    assert.deepEqual(diffs.map((m) => `${m}: ${JSON.stringify(r.prom[m])} vs ${JSON.stringify(r.obx[m])}`), []);
    t.diagnostic(`${single.length} families agree`);
  });

  describe('tenant isolation through every endpoint', () => {
    const asOther = (p, params) => promApi(`${obx.apiUrl}/prom`, p, params, { key: otherKey });
    const expectEmpty = async (p, params, empty) => {
      const r = await asOther(p, params);
      assert.equal(r.status, 200, `${p} as the other tenant: ${JSON.stringify(r.body).slice(0, 300)}`);
      assert.equal(r.body.status, 'success');
      assert.deepEqual(r.body.data, empty, `${p} ${JSON.stringify(params)} as the other tenant`);
    };

    test("the other tenant sees nothing of the remote-written series", async () => {
      await expectEmpty('/api/v1/query', { query: 'up', time: sec(T) }, { resultType: 'vector', result: [] });
      await expectEmpty('/api/v1/query', { query: '{__name__=~".+"}', time: sec(T) }, { resultType: 'vector', result: [] });
      await expectEmpty('/api/v1/query', { query: 'count({__name__=~".+"})', time: sec(T) }, { resultType: 'vector', result: [] });
      await expectEmpty('/api/v1/query_range',
        { query: 'sum by (job) (rate(prometheus_http_requests_total[1m]))', ...window(), step: '1' },
        { resultType: 'matrix', result: [] });
      await expectEmpty('/api/v1/series', { 'match[]': '{__name__=~".+"}', ...window() }, []);
      await expectEmpty('/api/v1/series', { 'match[]': 'up' }, []);
      await expectEmpty('/api/v1/labels', {}, []);
      await expectEmpty('/api/v1/labels', { 'match[]': 'up' }, []);
      await expectEmpty('/api/v1/label/job/values', {}, []);
      await expectEmpty('/api/v1/label/__name__/values', {}, []);
      await expectEmpty('/api/v1/metadata', {}, {});
      await expectEmpty('/api/v1/metadata', { metric: 'prometheus_http_requests_total' }, {});
      // absent() is 1 where nothing exists.
      const r = await asOther('/api/v1/query', { query: 'absent(up)', time: sec(T) });
      assert.deepEqual(r.body.data.result.map((s) => [s.metric, s.value[1]]), [[{}, '1']]);
    });

    test("the other tenant's imported samples are its own", async () => {
      const metric = `imported_${runId}`;
      const at = T - 3000;
      const body = `# HELP ${metric} Only tenant ${OTHER} has this.\n# TYPE ${metric} gauge\n` +
                   `${metric}{job="imported",instance="other"} 42 ${at}\n`;
      const res = await fetch(`${obx.apiUrl}/prom/api/v1/import/prometheus`, {
        method: 'POST', headers: { Authorization: `Bearer ${otherKey}`, 'Content-Type': 'text/plain' }, body,
      });
      assert.equal(res.status, 204, await res.text());

      const deadline = Date.now() + 10_000;
      let own;
      for (;;) {
        own = await asOther('/api/v1/query', { query: metric, time: sec(T) });
        if (own.body.data?.result?.length) break;
        assert.ok(Date.now() < deadline, `the import is not queryable by its tenant: ${JSON.stringify(own.body)}`);
        await sleep(100);
      }
      assert.deepEqual(own.body.data.result, [
        { metric: { __name__: metric, job: 'imported', instance: 'other' }, value: [Number(sec(T)), '42'] }]);
      const names = await asOther('/api/v1/label/__name__/values', {});
      assert.deepEqual(names.body.data, [metric]);
      const meta = await asOther('/api/v1/metadata', {});
      assert.deepEqual(meta.body.data, { [metric]: [{ type: 'gauge', help: `Only tenant ${OTHER} has this.`, unit: '' }] });

      const mine = (p, params) => promData(`${obx.apiUrl}/prom`, p, params, { key });
      assert.deepEqual((await mine('/api/v1/query', { query: metric, time: sec(T) })).result, []);
      assert.deepEqual((await mine('/api/v1/query', { query: '{job="imported"}', time: sec(T) })).result, []);
      assert.deepEqual((await mine('/api/v1/query_range', { query: metric, ...window(), step: '1' })).result, []);
      assert.deepEqual(await mine('/api/v1/series', { 'match[]': `{instance="other"}` }), []);
      assert.deepEqual(await mine('/api/v1/label/job/values', {}), ['observex', 'prometheus']);
      assert.ok(!(await mine('/api/v1/label/__name__/values', {})).includes(metric));
      assert.deepEqual(await mine('/api/v1/labels', { 'match[]': metric }), []);
      assert.deepEqual(await mine('/api/v1/metadata', { metric }), {});
    });
  });

  describe('remote write without a valid key', () => {
    const sample = (name) => snappyLiteral(writeRequest([
      { labels: { __name__: name, job: 'nokey' }, samples: [[Date.now(), 1]] }]));
    const post = (headers, body) => fetch(`${obx.apiUrl}/prom/api/v1/write`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy',
                 'X-Prometheus-Remote-Write-Version': '0.1.0', ...headers },
      body,
    });

    test('a request without a key, or with an unknown one, gets 401 and stores nothing', async () => {
      const name = `nokey_${runId}`;
      const none = await post({}, sample(name));
      assert.equal(none.status, 401);
      assert.match(await none.text(), /missing API key/);
      const unknown = await post({ Authorization: `Bearer ${unknownKey()}` }, sample(name));
      assert.equal(unknown.status, 401);
      await unknown.arrayBuffer();
      const basic = await post({ Authorization: `Basic ${Buffer.from(`u:${unknownKey()}`).toString('base64')}` }, sample(name));
      assert.equal(basic.status, 401);
      await basic.arrayBuffer();
      // The same body with the key is accepted: the 401s were about the key alone. Once it
      // is queryable, anything the refused requests had stored would be too.
      const ok = await post({ Authorization: `Bearer ${key}` }, sample(`${name}_keyed`));
      assert.equal(ok.status, 204, await ok.text());
      for (const deadline = Date.now() + 10_000; ;) {
        const d = await promData(`${obx.apiUrl}/prom`, '/api/v1/series', { 'match[]': `${name}_keyed` }, { key });
        if (d.length === 1) break;
        assert.ok(Date.now() < deadline, 'the keyed remote write is not queryable within 10 s');
        await sleep(100);
      }
      for (const k of [key, otherKey]) {
        const d = await promData(`${obx.apiUrl}/prom`, '/api/v1/series', { 'match[]': name }, { key: k });
        assert.deepEqual(d, []);
      }
    });

    test("Prometheus's queue without credentials is refused with 401, Prometheus keeps running", async () => {
      const q = async (query) => {
        const d = await promData(prom.url, '/api/v1/query', { query });
        return Object.fromEntries(d.result.map((s) => [s.metric.remote_name, parseValue(s.value[1])]));
      };
      const failed = await q('prometheus_remote_storage_samples_failed_total');
      const sent = await q('prometheus_remote_storage_samples_total');
      assert.ok(failed.nokey > 0, `the key-less queue has failed samples: ${JSON.stringify(failed)}`);
      assert.equal(failed.observex, 0, 'the keyed queue has no failed samples');
      assert.ok(sent.observex > 0);
      assert.match(prom.stderrTail, /remote_name=nokey.*401 Unauthorized|401 Unauthorized.*remote_name=nokey/,
        'Prometheus logs the 401 of the key-less queue');
      const health = await fetch(`${prom.url}/-/healthy`);
      assert.equal(health.status, 200);
      assert.ok(prom.alive);
      // ObserveX counted the refusals as auth drops.
      const dropped = (await obx.metrics()).filter((s) => s.name === 'observex_ingest_signals_dropped_total' &&
        s.labels.reason === 'auth' && s.labels.type === 'prometheus');
      assert.ok(dropped.reduce((n, s) => n + s.value, 0) > 0, 'auth drops of type prometheus are counted');
    });
  });
});
