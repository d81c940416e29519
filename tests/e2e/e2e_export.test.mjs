// The OpenTelemetry JS SDK's own OTLP exporters (unchanged, from npm) send traces,
// metrics and logs over HTTP/protobuf, HTTP/JSON, HTTP/protobuf+gzip, gRPC and gRPC+gzip to a real
// server. Every item an exporter reported as exported must then be in `observex wal dump`
// under the tenant its key belongs to, with the content the SDK sent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Metadata } from '@grpc/grpc-js';
import { context as otelContext, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, ValueType } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as LogsJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as MetricsGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as MetricsJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as MetricsProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as TraceGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TraceJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TraceProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { DataPointType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

import { attrsToObject, containsString, fromAny } from './lib/otlp.mjs';
import { createKey, metricValue, runCli, startServer, stopAll, walDump } from './lib/server.mjs';

const TENANT = 'e2e-sdk';
const run = randomBytes(4).toString('hex');
const SUCCESS = 0; // ExportResultCode.SUCCESS

let server;
let key;
let defaultTenant;

before(async () => {
  server = await startServer();
  assert.ok(server.firstKey, 'first start must print the default key');
  key = await createKey(server.dataDir, TENANT);
  assert.notEqual(key, server.firstKey);
  defaultTenant = 'default';
});

after(async () => {
  const res = server ? await server.stop() : null;
  await server?.dispose();
  await stopAll();
  if (res) assert.deepEqual(res, { code: 0, signal: null }, 'SIGTERM must drain and exit 0');
});

// ------------------------------------------------------------------ protocols

const grpcMetadata = () => {
  const md = new Metadata();
  md.set('authorization', `Bearer ${key}`);
  return md;
};
const httpHeaders = () => ({ Authorization: `Bearer ${key}` });

const PROTOCOLS = {
  'http/protobuf': {
    traces: () => new TraceProto({ url: `${server.httpUrl}/v1/traces`, headers: httpHeaders() }),
    metrics: () => new MetricsProto({ url: `${server.httpUrl}/v1/metrics`, headers: httpHeaders() }),
    logs: () => new LogsProto({ url: `${server.httpUrl}/v1/logs`, headers: httpHeaders() }),
  },
  'http/json': {
    traces: () => new TraceJson({ url: `${server.httpUrl}/v1/traces`, headers: httpHeaders() }),
    metrics: () => new MetricsJson({ url: `${server.httpUrl}/v1/metrics`, headers: httpHeaders() }),
    logs: () => new LogsJson({ url: `${server.httpUrl}/v1/logs`, headers: httpHeaders() }),
  },
  'http/protobuf+gzip': {
    traces: () => new TraceProto({ url: `${server.httpUrl}/v1/traces`, headers: httpHeaders(), compression: 'gzip' }),
    metrics: () => new MetricsProto({ url: `${server.httpUrl}/v1/metrics`, headers: httpHeaders(), compression: 'gzip' }),
    logs: () => new LogsProto({ url: `${server.httpUrl}/v1/logs`, headers: httpHeaders(), compression: 'gzip' }),
  },
  grpc: {
    traces: () => new TraceGrpc({ url: `http://${server.grpcAddr}`, metadata: grpcMetadata() }),
    metrics: () => new MetricsGrpc({ url: `http://${server.grpcAddr}`, metadata: grpcMetadata() }),
    logs: () => new LogsGrpc({ url: `http://${server.grpcAddr}`, metadata: grpcMetadata() }),
  },
  'grpc+gzip': {
    traces: () => new TraceGrpc({ url: `http://${server.grpcAddr}`, metadata: grpcMetadata(), compression: 'gzip' }),
    metrics: () => new MetricsGrpc({ url: `http://${server.grpcAddr}`, metadata: grpcMetadata(), compression: 'gzip' }),
    logs: () => new LogsGrpc({ url: `http://${server.grpcAddr}`, metadata: grpcMetadata(), compression: 'gzip' }),
  },
};

// Wraps an exporter so the test sees exactly what it exported and what it was told.
function capture(exporter) {
  const exported = [];
  const results = [];
  const orig = exporter.export.bind(exporter);
  exporter.export = (items, cb) => {
    exported.push(...(Array.isArray(items) ? items : [items]));
    orig(items, (r) => {
      results.push(r);
      cb(r);
    });
  };
  return { exporter, exported, results };
}

function assertAllSucceeded(results, what) {
  assert.ok(results.length > 0, `${what}: the exporter was never called`);
  for (const r of results) {
    assert.equal(r.code, SUCCESS, `${what}: export failed: ${r.error?.stack ?? r.error}`);
  }
}

const nanos = (hr) => String(BigInt(hr[0]) * 1_000_000_000n + BigInt(hr[1]));

// The SDK's attribute values as the OTLP mapping carries them (ints and doubles as numbers).
const sdkAttrs = (a = {}) => JSON.parse(JSON.stringify(a));

// Records of this run: the marker is a resource attribute of every provider of the test.
async function dumpFor(marker, type) {
  const all = await walDump(server.dataDir, { type });
  const mine = all.filter((r) => containsString(r.signal.resource, marker));
  for (const r of mine) {
    assert.equal(r.tenant, TENANT, `a record of ${marker} is stored under tenant '${r.tenant}'`);
    assert.equal(r.type, type);
    assert.equal(typeof r.tenant_id, 'number');
    assert.ok(!Number.isNaN(Date.parse(r.ingested_at)), `ingested_at ${r.ingested_at}`);
    assert.equal(typeof r.observex_version, 'string');
    const res = attrsToObject(r.signal.resource.attributes);
    assert.equal(res['e2e.marker'], marker);
    assert.equal(res['service.name'], 'observex-e2e');
  }
  // The tenant filter must agree.
  const filtered = (await walDump(server.dataDir, { tenant: TENANT, type }))
    .filter((r) => containsString(r.signal.resource, marker));
  assert.equal(filtered.length, mine.length, '--tenant filter disagrees with the unfiltered dump');
  const otherTenant = (await walDump(server.dataDir, { tenant: defaultTenant, type }))
    .filter((r) => containsString(r.signal, marker));
  assert.equal(otherTenant.length, 0, 'records leaked into the default tenant');
  return mine;
}

// ------------------------------------------------------------------ traces

async function exportTraces(protocol, marker) {
  const cap = capture(PROTOCOLS[protocol].traces());
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'observex-e2e', 'e2e.marker': marker }),
    spanProcessors: [new BatchSpanProcessor(cap.exporter, { maxExportBatchSize: 3, scheduledDelayMillis: 60_000 })],
  });
  const tracer = provider.getTracer('e2e-scope', '1.2.3');
  const linked = tracer.startSpan(`${marker}-linked`, { kind: SpanKind.PRODUCER });
  linked.end();
  const parent = tracer.startSpan(`${marker}-parent`, {
    kind: SpanKind.SERVER,
    attributes: {
      'http.route': '/checkout', 'e2e.str': `s-${marker}`, 'e2e.int': 42, 'e2e.neg': -7,
      'e2e.double': 2.5, 'e2e.bool': true, 'e2e.strs': ['a', 'b', 'c'], 'e2e.ints': [1, 2, 3],
    },
  });
  parent.addEvent('cache.miss', { 'e2e.key': `k-${marker}`, 'e2e.attempt': 2 });
  parent.addEvent('plain-event');
  parent.setStatus({ code: SpanStatusCode.ERROR, message: `boom ${marker}` });
  const ctx = trace.setSpan(ROOT_CONTEXT, parent);
  const child = tracer.startSpan(`${marker}-child`, {
    kind: SpanKind.CLIENT,
    links: [{ context: linked.spanContext(), attributes: { 'e2e.link': `l-${marker}` } }],
  }, ctx);
  child.setAttribute('e2e.unicode', 'grüße ✓ 日本');
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  otelContext.with(ctx, () => {
    for (let i = 0; i < 5; i++) {
      const s = tracer.startSpan(`${marker}-loop-${i}`, { attributes: { 'e2e.i': i } });
      s.end();
    }
  });
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  assertAllSucceeded(cap.results, `${protocol} traces`);
  assert.equal(cap.exported.length, 8, 'the SDK exported every span');
  return cap.exported;
}

function checkSpan(sdk, rec) {
  const s = rec.signal.span;
  const where = `span ${sdk.name}`;
  assert.equal(s.traceId, sdk.spanContext().traceId, `${where}: traceId`);
  assert.equal(s.spanId, sdk.spanContext().spanId, `${where}: spanId`);
  assert.equal(s.name, sdk.name);
  assert.equal(s.kind ?? 0, sdk.kind + 1, `${where}: kind (OTLP = SDK + 1)`);
  const parentId = sdk.parentSpanContext?.spanId;
  if (parentId) assert.equal(s.parentSpanId, parentId, `${where}: parentSpanId`);
  else assert.ok(!s.parentSpanId, `${where}: root span has parentSpanId ${s.parentSpanId}`);
  assert.equal(s.startTimeUnixNano, nanos(sdk.startTime), `${where}: start`);
  assert.equal(s.endTimeUnixNano, nanos(sdk.endTime), `${where}: end`);
  assert.deepEqual(attrsToObject(s.attributes), sdkAttrs(sdk.attributes), `${where}: attributes`);
  assert.equal(s.status?.code ?? 0, sdk.status.code, `${where}: status code`);
  assert.equal(s.status?.message ?? '', sdk.status.message ?? '', `${where}: status message`);
  assert.equal((s.events ?? []).length, sdk.events.length, `${where}: events`);
  sdk.events.forEach((e, i) => {
    const got = s.events[i];
    assert.equal(got.name, e.name);
    assert.equal(got.timeUnixNano, nanos(e.time));
    assert.deepEqual(attrsToObject(got.attributes), sdkAttrs(e.attributes ?? {}));
  });
  assert.equal((s.links ?? []).length, sdk.links.length, `${where}: links`);
  sdk.links.forEach((l, i) => {
    const got = s.links[i];
    assert.equal(got.traceId, l.context.traceId);
    assert.equal(got.spanId, l.context.spanId);
    assert.deepEqual(attrsToObject(got.attributes), sdkAttrs(l.attributes ?? {}));
  });
  assert.equal(rec.signal.scope.name, 'e2e-scope');
  assert.equal(rec.signal.scope.version, '1.2.3');
}

// ------------------------------------------------------------------ metrics

async function exportMetrics(protocol, marker) {
  const cap = capture(PROTOCOLS[protocol].metrics());
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'observex-e2e', 'e2e.marker': marker }),
    readers: [new PeriodicExportingMetricReader({ exporter: cap.exporter, exportIntervalMillis: 600_000, exportTimeoutMillis: 30_000 })],
  });
  const meter = provider.getMeter('e2e-meter', '0.9.0');
  const counter = meter.createCounter(`e2e.requests.${marker}`, { unit: '{request}', description: 'requests seen', valueType: ValueType.INT });
  counter.add(5, { route: '/a' });
  counter.add(7, { route: '/a' });
  counter.add(1, { route: '/b' });
  const updown = meter.createUpDownCounter(`e2e.queue.${marker}`, { valueType: ValueType.DOUBLE });
  updown.add(10.5);
  updown.add(-3.25);
  const hist = meter.createHistogram(`e2e.latency.${marker}`, {
    unit: 'ms', advice: { explicitBucketBoundaries: [1, 10, 100] },
  });
  for (const v of [0.5, 3, 7, 50, 500, 5000]) hist.record(v, { op: 'get' });
  const gauge = meter.createGauge(`e2e.temperature.${marker}`);
  gauge.record(21.5, { room: 'lab' });
  const observable = meter.createObservableGauge(`e2e.observed.${marker}`, { valueType: ValueType.INT });
  observable.addCallback((r) => r.observe(99, { src: 'callback' }));
  // shutdown() collects and exports once more; a forceFlush() before it would export the
  // same cumulative points twice.
  await provider.shutdown();
  assertAllSucceeded(cap.results, `${protocol} metrics`);
  return cap.exported;
}

const pointValue = (p) => (p.asInt !== undefined ? Number(p.asInt) : p.asDouble !== undefined ? Number(p.asDouble) : undefined);

function checkMetrics(exported, records, marker) {
  // Each dump record: signal.metric (name, type, ...) with its data point. The contract
  // names it signal.point; it is accepted in either place.
  const flat = records.map((r) => ({ metric: r.signal.metric, point: r.signal.point ?? r.signal.metric.point, rec: r }));
  let checked = 0;
  for (const rm of exported) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        for (const dp of m.dataPoints) {
          const attrs = sdkAttrs(dp.attributes);
          const matches = flat.filter((f) => f.metric.name === m.descriptor.name &&
            JSON.stringify(attrsToObject(f.point.attributes)) === JSON.stringify(attrs));
          assert.ok(matches.length >= 1, `metric ${m.descriptor.name} ${JSON.stringify(attrs)} is not in the WAL`);
          const { metric, point, rec } = matches[0];
          assert.equal(rec.signal.scope.name, 'e2e-meter');
          assert.equal(metric.unit ?? '', m.descriptor.unit ?? '');
          assert.equal(point.startTimeUnixNano, nanos(dp.startTime), `${metric.name}: start time`);
          assert.equal(point.timeUnixNano, nanos(dp.endTime), `${metric.name}: time`);
          switch (m.dataPointType) {
            case DataPointType.SUM:
              assert.equal(metric.type, 'sum');
              assert.equal(metric.isMonotonic ?? false, m.isMonotonic, `${metric.name}: isMonotonic`);
              assert.equal(metric.aggregationTemporality, m.aggregationTemporality === 1 ? 2 : 1);
              assert.equal(pointValue(point), dp.value);
              break;
            case DataPointType.GAUGE:
              assert.equal(metric.type, 'gauge');
              assert.equal(pointValue(point), dp.value);
              break;
            case DataPointType.HISTOGRAM:
              assert.equal(metric.type, 'histogram');
              assert.equal(Number(point.count), dp.value.count);
              assert.equal(Number(point.sum), dp.value.sum);
              assert.deepEqual(point.explicitBounds.map(Number), dp.value.buckets.boundaries);
              assert.deepEqual(point.bucketCounts.map(Number), dp.value.buckets.counts);
              assert.equal(Number(point.min), dp.value.min);
              assert.equal(Number(point.max), dp.value.max);
              break;
            default:
              assert.fail(`unexpected data point type ${m.dataPointType}`);
          }
          checked++;
        }
      }
    }
  }
  assert.equal(checked, 6, 'six data points were exported');
  assert.equal(records.length, checked, `${checked} data points exported, ${records.length} stored`);
  // Known values, independent of what the SDK reported.
  const find = (name, attrs) => flat.find((f) => f.metric.name === name &&
    JSON.stringify(attrsToObject(f.point.attributes)) === JSON.stringify(attrs));
  assert.equal(pointValue(find(`e2e.requests.${marker}`, { route: '/a' }).point), 12);
  assert.equal(pointValue(find(`e2e.requests.${marker}`, { route: '/b' }).point), 1);
  assert.equal(find(`e2e.requests.${marker}`, { route: '/a' }).metric.description, 'requests seen');
  assert.equal(pointValue(find(`e2e.queue.${marker}`, {}).point), 7.25);
  const h = find(`e2e.latency.${marker}`, { op: 'get' }).point;
  assert.deepEqual(h.explicitBounds.map(Number), [1, 10, 100]);
  assert.deepEqual(h.bucketCounts.map(Number), [1, 2, 1, 2]);
  assert.equal(Number(h.count), 6);
  assert.equal(Number(h.sum), 5560.5);
  assert.equal(pointValue(find(`e2e.temperature.${marker}`, { room: 'lab' }).point), 21.5);
  assert.equal(pointValue(find(`e2e.observed.${marker}`, { src: 'callback' }).point), 99);
}

// ------------------------------------------------------------------ logs

async function exportLogs(protocol, marker) {
  const cap = capture(PROTOCOLS[protocol].logs());
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'observex-e2e', 'e2e.marker': marker }),
    // sdk-logs 0.223 takes the exporter inside the options object.
    processors: [new BatchLogRecordProcessor({ exporter: cap.exporter, maxExportBatchSize: 2, scheduledDelayMillis: 60_000 })],
  });
  const logger = provider.getLogger('e2e-logger', '4.5.6');
  const spanContext = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1 };
  logger.emit({
    severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: `disk almost full ${marker}`,
    attributes: { 'e2e.disk': '/dev/sda1', 'e2e.pct': 93, 'e2e.ratio': 0.93, 'e2e.ok': false },
  });
  logger.emit({
    severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: { msg: `structured ${marker}`, code: 500, tags: ['x', 'y'] },
    context: trace.setSpanContext(ROOT_CONTEXT, spanContext),
  });
  logger.emit({ severityNumber: SeverityNumber.INFO, body: `event ${marker}`, eventName: 'e2e.event', attributes: { 'e2e.n': 1 } });
  logger.emit({ body: `bare ${marker}` });
  await provider.forceFlush();
  await provider.shutdown();
  assertAllSucceeded(cap.results, `${protocol} logs`);
  assert.equal(cap.exported.length, 4);
  return { exported: cap.exported, spanContext };
}

function checkLogs(exported, records, spanContext) {
  for (const lr of exported) {
    const want = JSON.parse(JSON.stringify(lr.body));
    const matches = records.filter((r) => JSON.stringify(fromAny(r.signal.logRecord.body)) === JSON.stringify(want));
    assert.equal(matches.length, 1, `log with body ${JSON.stringify(want)} found ${matches.length} times`);
    const got = matches[0].signal.logRecord;
    assert.equal(got.severityNumber ?? 0, lr.severityNumber ?? 0);
    assert.equal(got.severityText ?? '', lr.severityText ?? '');
    assert.deepEqual(attrsToObject(got.attributes), sdkAttrs(lr.attributes));
    assert.equal(got.timeUnixNano, nanos(lr.hrTime), 'timeUnixNano');
    assert.equal(got.observedTimeUnixNano, nanos(lr.hrTimeObserved), 'observedTimeUnixNano');
    if (lr.spanContext) {
      assert.equal(got.traceId, spanContext.traceId);
      assert.equal(got.spanId, spanContext.spanId);
    } else {
      assert.ok(!got.traceId, `unexpected traceId ${got.traceId}`);
    }
    if (lr.eventName) assert.equal(got.eventName, lr.eventName, 'eventName');
    assert.equal(matches[0].signal.scope.name, 'e2e-logger');
    assert.equal(matches[0].signal.scope.version, '4.5.6');
  }
}

// ------------------------------------------------------------------ the matrix

for (const protocol of Object.keys(PROTOCOLS)) {
  describe(`OTLP ${protocol} through the OpenTelemetry JS SDK`, () => {
    test('traces: every span with ids, parent, kind, times, attributes, events, links, status', async () => {
      const marker = `t-${protocol.replace(/\W/g, '')}-${run}`;
      const spans = await exportTraces(protocol, marker);
      const recs = await dumpFor(marker, 'traces');
      assert.equal(recs.length, spans.length, `${spans.length} spans exported, ${recs.length} stored`);
      for (const sdk of spans) {
        const rec = recs.find((r) => r.signal.span.spanId === sdk.spanContext().spanId);
        assert.ok(rec, `span ${sdk.name} (${sdk.spanContext().spanId}) is not in the WAL`);
        checkSpan(sdk, rec);
      }
      const parent = recs.find((r) => r.signal.span.name === `${marker}-parent`).signal.span;
      assert.equal(attrsToObject(parent.attributes)['e2e.str'], `s-${marker}`);
      assert.deepEqual(attrsToObject(parent.attributes)['e2e.ints'], [1, 2, 3]);
      assert.equal(parent.status.code, 2);
      assert.equal(parent.status.message, `boom ${marker}`);
      assert.deepEqual(parent.events.map((e) => e.name), ['cache.miss', 'plain-event']);
      const child = recs.find((r) => r.signal.span.name === `${marker}-child`).signal.span;
      assert.equal(child.parentSpanId, parent.spanId);
      assert.equal(child.traceId, parent.traceId);
      assert.equal(attrsToObject(child.links[0].attributes)['e2e.link'], `l-${marker}`);
      assert.equal(attrsToObject(child.attributes)['e2e.unicode'], 'grüße ✓ 日本');
    });

    test('metrics: counters, up-down counter, histogram buckets, gauges', async () => {
      const marker = `m-${protocol.replace(/\W/g, '')}-${run}`;
      const exported = await exportMetrics(protocol, marker);
      const recs = await dumpFor(marker, 'metrics');
      checkMetrics(exported, recs, marker);
    });

    test('logs: body (string and map), severity, attributes, times, trace context, event name', async () => {
      const marker = `l-${protocol.replace(/\W/g, '')}-${run}`;
      const { exported, spanContext } = await exportLogs(protocol, marker);
      const recs = await dumpFor(marker, 'logs');
      assert.equal(recs.length, exported.length, `${exported.length} log records exported, ${recs.length} stored`);
      checkLogs(exported, recs, spanContext);
    });
  });
}

test('/metrics accounts for the exports: signals received per tenant and type, requests per route and method, WAL timings', async () => {
  const m = await server.metrics();
  const protocols = Object.keys(PROTOCOLS).length;
  const received = (type) => metricValue(m, 'observex_ingest_signals_received_total', { tenant: TENANT, type });
  assert.equal(received('traces'), 8 * protocols, 'spans received');
  assert.equal(received('metrics'), 6 * protocols, 'data points received');
  assert.equal(received('logs'), 4 * protocols, 'log records received');
  assert.equal(metricValue(m, 'observex_ingest_signals_dropped_total', { tenant: TENANT }), undefined, 'drops for a tenant that sent only valid data');
  for (const route of ['/v1/traces', '/v1/metrics', '/v1/logs']) {
    const n = metricValue(m, 'observex_http_requests_total', { route, code: '200' });
    assert.ok(n >= 3, `observex_http_requests_total{route="${route}",code="200"} = ${n}`);
  }
  for (const svc of ['trace.v1.TraceService', 'metrics.v1.MetricsService', 'logs.v1.LogsService']) {
    const n = metricValue(m, 'observex_grpc_requests_total', { method: `/opentelemetry.proto.collector.${svc}/Export`, code: 'OK' });
    assert.ok(n >= 1, `observex_grpc_requests_total for ${svc} = ${n}`);
  }
  assert.ok(metricValue(m, 'observex_wal_write_seconds_count') > 0, 'observex_wal_write_seconds has no observations');
  assert.ok(metricValue(m, 'observex_wal_fsync_seconds_count') > 0, 'observex_wal_fsync_seconds has no observations (fsync is on by default)');
  const depth = m.filter((x) => x.name === 'observex_ingest_pipeline_queue_depth');
  assert.ok(depth.length > 0 && depth.every((x) => x.labels.stage), 'observex_ingest_pipeline_queue_depth{stage} missing');
});

test('wal verify is clean after all exports', async () => {
  const r = await runCli(['wal', 'verify', '--data-dir', server.dataDir]);
  assert.equal(r.code, 0, `wal verify: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /result: OK/);
});
