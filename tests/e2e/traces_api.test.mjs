// Trace by id end to end: spans made and exported by the OpenTelemetry JS SDK (its own
// http/protobuf, http/json and gRPC exporters, unchanged from npm) come back from
// `GET /api/v1/traces/{id}` with everything the SDK's span objects held: ids, parent, kind,
// times, flags and trace state, attributes of every type, events and links with their
// attributes, status, resource and scope. The expected values are read from the ReadableSpan
// objects the exporter was handed, not written down here. The same answers must come back
// from the in-memory head, from parts after a graceful restart, from the WAL after SIGKILL,
// and exactly once after a seal that the WAL checkpoint had not caught up with.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Metadata } from '@grpc/grpc-js';
import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { OTLPTraceExporter as TraceGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TraceJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TraceProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

import { unknownKey } from './lib/otlp.mjs';
import { createKey, listKeys, metricValue, revokeKey, startServer, stopAll } from './lib/server.mjs';
import { canonAttrs, canonJsAttrs, fetchTrace, fetchTraceOnceStored, flattenTrace } from './lib/traces.mjs';

const TENANT = 'traces-api';
const run = randomBytes(4).toString('hex');
const SUCCESS = 0; // ExportResultCode.SUCCESS

let server;
let key;

before(async () => {
  // Heads are sealed only when a test asks for it (restart, or the 1 s setting further down),
  // so the first answers come from the head, the later ones from parts.
  server = await startServer({ flags: { 'storage-seal-after': '1h' } });
  key = await createKey(server.dataDir, TENANT);
});

after(async () => {
  await server?.dispose();
  await stopAll();
});

// ------------------------------------------------------------------ the SDK side

const PROTOCOLS = {
  'http/protobuf': () => new TraceProto({ url: `${server.httpUrl}/v1/traces`, headers: { Authorization: `Bearer ${key}` } }),
  'http/json': () => new TraceJson({ url: `${server.httpUrl}/v1/traces`, headers: { Authorization: `Bearer ${key}` } }),
  grpc: () => {
    const md = new Metadata();
    md.set('authorization', `Bearer ${key}`);
    return new TraceGrpc({ url: `http://${server.grpcAddr}`, metadata: md });
  },
};

// Wraps an exporter so the test holds exactly the ReadableSpans it exported and its results
// (in arrays that several exporters may share).
function capture(exporter, exported = [], results = []) {
  const orig = exporter.export.bind(exporter);
  exporter.export = (spans, cb) => {
    exported.push(...spans);
    orig(spans, (r) => {
      results.push(r);
      cb(r);
    });
  };
  return { exporter, exported, results };
}

const newProvider = (exporter, resourceAttrs, schemaUrl) => new BasicTracerProvider({
  resource: resourceFromAttributes(resourceAttrs, schemaUrl ? { schemaUrl } : undefined),
  spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 4, scheduledDelayMillis: 60_000 })],
});

// Two services (two providers, two resources) in one trace, continued from a remote parent
// with a trace state; the frontend uses two tracers (scopes). Plus a second trace that the
// first one links to. Returns the ReadableSpans the exporter was given.
async function exportWithSdk(protocol, marker) {
  // One exporter per provider (shutting a provider down shuts its exporter), one record.
  const cap = capture(PROTOCOLS[protocol]());
  const backExporter = capture(PROTOCOLS[protocol](), cap.exported, cap.results).exporter;
  const front = newProvider(cap.exporter, {
    'service.name': 'e2e-frontend', 'e2e.marker': marker, 'e2e.res.int': 7, 'e2e.res.double': 0.25,
    'e2e.res.bool': false, 'e2e.res.strs': ['eu-west', 'b'],
  }, 'https://opentelemetry.io/schemas/1.24.0');
  const back = newProvider(backExporter, { 'service.name': 'e2e-backend', 'e2e.marker': marker });
  const http = front.getTracer('e2e-http', '1.0.0', { schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
  const db = front.getTracer('e2e-db', '2.1.0');
  const svc = back.getTracer('e2e-backend-scope', '0.0.1-beta');

  const remote = {
    traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED, isRemote: true,
    traceState: createTraceState(`rojo=00f067aa0ba902b7,congo=${marker}`),
  };
  // The trace the main one links to, in a trace of its own.
  const other = http.startSpan(`${marker}-other`, { kind: SpanKind.PRODUCER, attributes: { 'e2e.other': true } });
  other.end();

  const root = http.startSpan(`${marker}-root`, {
    kind: SpanKind.SERVER,
    attributes: {
      'e2e.str': `s-${marker}`, 'e2e.empty': '', 'e2e.escapes': 'quote " backslash \\ newline \n tab \t bell \u0007 end',
      'e2e.unicode': 'grüße ✓ 日本 🚀', 'e2e.int': 42, 'e2e.neg': -7, 'e2e.zero': 0,
      'e2e.maxsafe': Number.MAX_SAFE_INTEGER, 'e2e.minsafe': Number.MIN_SAFE_INTEGER,
      'e2e.double': 2.5, 'e2e.tiny': 6.02214076e-23, 'e2e.negdouble': -1234.5678,
      'e2e.bool': true, 'e2e.false': false,
      'e2e.strs': ['a', 'b', 'c'], 'e2e.ints': [1, -2, 3], 'e2e.doubles': [0.5, 1.25],
      'e2e.bools': [true, false, true], 'e2e.sparse': ['x', null, 'z'], 'e2e.nothing': [],
    },
  }, trace.setSpanContext(ROOT_CONTEXT, remote));
  root.addEvent('cache.miss', { 'e2e.key': `k-${marker}`, 'e2e.attempt': 2, 'e2e.ratio': 0.75, 'e2e.tags': ['p', 'q'] });
  root.addEvent('plain-event');
  root.addEvent('exception', { 'exception.type': 'Error', 'exception.message': `boom ${marker}` }, new Date(Date.now() - 5));
  root.setStatus({ code: SpanStatusCode.ERROR, message: `boom ${marker}` });
  const rootCtx = trace.setSpan(ROOT_CONTEXT, root);

  const query = db.startSpan(`${marker}-query`, {
    kind: SpanKind.CLIENT,
    attributes: { 'db.system': 'postgresql', 'db.rows': 12 },
    links: [{ context: other.spanContext(), attributes: { 'e2e.link': `l-${marker}`, 'e2e.link.n': 3 } }],
  }, rootCtx);
  // A link to a remote, unsampled context with a trace state of its own, without attributes.
  query.addLink({
    context: {
      traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'),
      traceFlags: TraceFlags.NONE, isRemote: true, traceState: createTraceState(`vendor=${marker}`),
    },
  });
  query.setStatus({ code: SpanStatusCode.OK });
  query.end();

  // The backend continues the trace as if the context had crossed the wire.
  const handler = svc.startSpan(`${marker}-handler`, { kind: SpanKind.SERVER },
    trace.setSpanContext(ROOT_CONTEXT, { ...root.spanContext(), isRemote: true }));
  const consume = svc.startSpan(`${marker}-consume`, { kind: SpanKind.CONSUMER, attributes: { 'e2e.i': 1 } },
    trace.setSpan(ROOT_CONTEXT, handler));
  consume.addEvent('received', { 'e2e.bytes': 1024 });
  consume.end();
  handler.end();

  const internal = http.startSpan(`${marker}-internal`, {}, rootCtx); // kind INTERNAL, status UNSET
  internal.end();
  root.end();

  for (const p of [front, back]) {
    await p.forceFlush();
    await p.shutdown();
  }
  assert.ok(cap.results.length > 0, `${protocol}: the exporter was never called`);
  for (const r of cap.results) assert.equal(r.code, SUCCESS, `${protocol}: export failed: ${r.error?.stack ?? r.error}`);
  assert.equal(cap.exported.length, 6, `${protocol}: the SDK exported every span`);
  return cap.exported;
}

const nanos = (hr) => (BigInt(hr[0]) * 1_000_000_000n + BigInt(hr[1])).toString();
// OTLP span flags: the W3C trace flags plus "has is-remote" and "is remote" (0x100, 0x200).
const otlpFlags = (traceFlags, isRemote) => (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);
const sdkTraceId = (s) => s.spanContext().traceId;

// Sent spans grouped by trace id.
function byTrace(spans) {
  const m = new Map();
  for (const s of spans) {
    const id = sdkTraceId(s);
    if (!m.has(id)) m.set(id, []);
    m.get(id).push(s);
  }
  return m;
}

// ------------------------------------------------------------------ comparison

function checkSpan(sdk, got, where) {
  const { span, resource, resourceSchemaUrl, scope, scopeSchemaUrl } = got;
  const ctx = sdk.spanContext();
  assert.equal(span.traceId, ctx.traceId, `${where}: traceId`);
  assert.equal(span.spanId, ctx.spanId, `${where}: spanId`);
  assert.equal(span.parentSpanId ?? '', sdk.parentSpanContext?.spanId ?? '', `${where}: parentSpanId`);
  assert.equal(span.traceState ?? '', ctx.traceState?.serialize() ?? '', `${where}: traceState`);
  assert.equal(span.flags ?? 0, otlpFlags(ctx.traceFlags, sdk.parentSpanContext?.isRemote), `${where}: flags`);
  assert.equal(span.name, sdk.name, `${where}: name`);
  assert.equal(span.kind ?? 0, sdk.kind + 1, `${where}: kind (OTLP = SDK + 1)`);
  assert.equal(span.startTimeUnixNano, nanos(sdk.startTime), `${where}: start`);
  assert.equal(span.endTimeUnixNano, nanos(sdk.endTime), `${where}: end`);
  assert.deepEqual(canonAttrs(span.attributes), canonJsAttrs(sdk.attributes), `${where}: attributes`);
  assert.equal(span.droppedAttributesCount ?? 0, sdk.droppedAttributesCount, `${where}: droppedAttributesCount`);
  assert.equal(span.status?.code ?? 0, sdk.status.code, `${where}: status code`);
  assert.equal(span.status?.message ?? '', sdk.status.message ?? '', `${where}: status message`);

  assert.equal((span.events ?? []).length, sdk.events.length, `${where}: event count`);
  sdk.events.forEach((e, i) => {
    const ge = span.events[i];
    assert.equal(ge.name, e.name, `${where}: event ${i} name`);
    assert.equal(ge.timeUnixNano, nanos(e.time), `${where}: event ${e.name} time`);
    assert.deepEqual(canonAttrs(ge.attributes), canonJsAttrs(e.attributes ?? {}), `${where}: event ${e.name} attributes`);
    assert.equal(ge.droppedAttributesCount ?? 0, e.droppedAttributesCount ?? 0, `${where}: event ${e.name} dropped`);
  });
  assert.equal(span.droppedEventsCount ?? 0, sdk.droppedEventsCount, `${where}: droppedEventsCount`);

  assert.equal((span.links ?? []).length, sdk.links.length, `${where}: link count`);
  sdk.links.forEach((l, i) => {
    const gl = span.links[i];
    assert.equal(gl.traceId, l.context.traceId, `${where}: link ${i} traceId`);
    assert.equal(gl.spanId, l.context.spanId, `${where}: link ${i} spanId`);
    assert.equal(gl.traceState ?? '', l.context.traceState?.serialize() ?? '', `${where}: link ${i} traceState`);
    assert.equal(gl.flags ?? 0, otlpFlags(l.context.traceFlags, l.context.isRemote), `${where}: link ${i} flags`);
    assert.deepEqual(canonAttrs(gl.attributes), canonJsAttrs(l.attributes ?? {}), `${where}: link ${i} attributes`);
    assert.equal(gl.droppedAttributesCount ?? 0, l.droppedAttributesCount ?? 0, `${where}: link ${i} dropped`);
  });
  assert.equal(span.droppedLinksCount ?? 0, sdk.droppedLinksCount, `${where}: droppedLinksCount`);

  assert.deepEqual(canonAttrs(resource.attributes), canonJsAttrs(sdk.resource.attributes), `${where}: resource attributes`);
  assert.equal(resourceSchemaUrl, sdk.resource.schemaUrl ?? '', `${where}: resource schemaUrl`);
  assert.equal(scope.name, sdk.instrumentationScope.name, `${where}: scope name`);
  assert.equal(scope.version ?? '', sdk.instrumentationScope.version ?? '', `${where}: scope version`);
  assert.equal(scopeSchemaUrl, sdk.instrumentationScope.schemaUrl ?? '', `${where}: scope schemaUrl`);
}

// The answer for one trace holds exactly the SDK's spans of that trace, once each, grouped
// by resource and scope, in start-time order within a group.
function checkAnswer(res, sdkSpans, where) {
  assert.equal(res.status, 200, `${where}: ${res.status} ${res.text.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /application\/json/, `${where}: content type`);
  assert.ok(res.json, `${where}: the body is not JSON: ${res.text.slice(0, 300)}`);
  assert.equal(res.headers['x-observex-truncated'], undefined, `${where}: truncated`);
  assert.equal(res.headers['x-observex-warning'], undefined, `${where}: warning ${res.headers['x-observex-warning']}`);
  const flat = flattenTrace(res.json);
  const want = new Map(sdkSpans.map((s) => [s.spanContext().spanId, s]));
  const seen = new Map();
  for (const g of flat) seen.set(g.span.spanId, (seen.get(g.span.spanId) ?? 0) + 1);
  const dup = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(dup, [], `${where}: span ids answered more than once`);
  assert.deepEqual([...seen.keys()].sort(), [...want.keys()].sort(), `${where}: the set of span ids`);
  for (const g of flat) checkSpan(want.get(g.span.spanId), g, `${where}, span ${g.span.name}`);

  // One group per distinct resource and per distinct scope inside it.
  const resKeys = res.json.resourceSpans.map((rs) => JSON.stringify([canonAttrs(rs.resource?.attributes), rs.schemaUrl ?? '']));
  assert.equal(new Set(resKeys).size, resKeys.length, `${where}: a resource occurs in two groups`);
  const resources = new Set(sdkSpans.map((s) => s.resource));
  assert.equal(res.json.resourceSpans.length, resources.size, `${where}: resource groups`);
  for (const rs of res.json.resourceSpans) {
    const scopeKeys = rs.scopeSpans.map((ss) => JSON.stringify([ss.scope?.name, ss.scope?.version ?? '', ss.schemaUrl ?? '']));
    assert.equal(new Set(scopeKeys).size, scopeKeys.length, `${where}: a scope occurs in two groups`);
    for (const ss of rs.scopeSpans) {
      const starts = ss.spans.map((s) => BigInt(s.startTimeUnixNano));
      for (let i = 1; i < starts.length; i++) {
        assert.ok(starts[i - 1] <= starts[i], `${where}: spans of scope ${ss.scope?.name} are not in start-time order`);
      }
    }
  }
}

// Every trace sent so far, checked through the API with `key`.
const sent = new Map(); // label -> ReadableSpan[]

async function checkAllSent(where) {
  let traces = 0;
  for (const [label, spans] of sent) {
    for (const [traceId, list] of byTrace(spans)) {
      const res = await fetchTrace(server.apiUrl, traceId, key);
      checkAnswer(res, list, `${where}: ${label} trace ${traceId}`);
      traces++;
    }
  }
  return traces;
}

async function storageGauge(name) {
  return metricValue(await server.metrics(), name) ?? 0;
}

// ------------------------------------------------------------------ the tests

describe('spans from the OpenTelemetry JS SDK, read back by trace id', () => {
  for (const protocol of Object.keys(PROTOCOLS)) {
    test(`${protocol}: every field of every span, from the head`, async () => {
      const marker = `${protocol.replace(/\W/g, '')}-${run}`;
      const spans = await exportWithSdk(protocol, marker);
      sent.set(protocol, spans);
      const traces = byTrace(spans);
      assert.equal(traces.size, 2, 'the main trace and the linked one');
      // Acknowledged means queryable within a second (the storage writer tails the WAL).
      for (const [traceId, list] of traces) {
        checkAnswer(await fetchTraceOnceStored(server.apiUrl, traceId, key, { spans: list.length }), list, `${protocol} trace ${traceId}`);
      }
      assert.ok((await storageGauge('observex_storage_head_rows')) >= spans.length, 'the spans are in the head');
    });
  }

  test('upper-case hex finds the same trace; HEAD answers without a body', async () => {
    const [traceId, list] = [...byTrace(sent.get('grpc'))][0];
    checkAnswer(await fetchTrace(server.apiUrl, traceId.toUpperCase(), key), list, 'upper-case id');
    const head = await fetchTrace(server.apiUrl, traceId, key, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });
});

describe('answers for what is not there or not allowed', () => {
  test('404 for a well-formed id that no span has', async () => {
    const res = await fetchTrace(server.apiUrl, randomBytes(16).toString('hex'), key);
    assert.equal(res.status, 404, res.text);
    assert.match(res.error ?? '', /not found/i);
  });

  test('400 for malformed ids, naming what is wrong', async () => {
    const cases = {
      'too short': 'abc123',
      '31 digits': 'a'.repeat(31),
      '33 digits': 'a'.repeat(33),
      'not hex': `${'0'.repeat(30)}zz`,
      'all zero': '0'.repeat(32),
      'a span id': randomBytes(8).toString('hex'),
      'dashes (a UUID)': '01234567-89ab-cdef-0123-456789abcdef',
    };
    for (const [what, id] of Object.entries(cases)) {
      const res = await fetchTrace(server.apiUrl, id, key);
      assert.equal(res.status, 400, `${what} (${id}): ${res.status} ${res.text}`);
      assert.ok(res.error && /trace id/i.test(res.error), `${what}: error message ${res.text}`);
    }
  });

  test('401 without a key, with a malformed key and with a key never issued', async () => {
    const [traceId] = byTrace(sent.get('http/json')).keys();
    for (const [what, k, headers] of [
      ['no Authorization header', undefined, {}],
      ['malformed key', 'not-a-key', {}],
      ['unknown key', unknownKey(), {}],
      ['a Basic header without a password', undefined, { Authorization: 'Basic Zm9vOg==' }],
    ]) {
      const res = await fetchTrace(server.apiUrl, traceId, k, { headers });
      assert.equal(res.status, 401, `${what}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.ok(!res.text.includes('resourceSpans'), `${what}: spans in a 401 answer`);
    }
  });

  test("401 with another tenant's key once it is revoked", async () => {
    const tenant = `traces-revoked-${run}`;
    const k = await createKey(server.dataDir, tenant);
    const [traceId] = byTrace(sent.get('http/protobuf')).keys();
    // Before the revocation the key works, and its tenant sees none of TENANT's traces.
    const before = await fetchTrace(server.apiUrl, traceId, k);
    assert.equal(before.status, 404, `another tenant must not see the trace: ${before.status} ${before.text.slice(0, 200)}`);
    const { rows } = await listKeys(server.dataDir);
    const row = rows.find((r) => r.tenant === tenant);
    assert.ok(row, `no key row for ${tenant}`);
    await revokeKey(server.dataDir, row.id);
    let res;
    for (const deadline = Date.now() + 10_000; ;) {
      res = await fetchTrace(server.apiUrl, traceId, k);
      if (res.status !== 404 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(res.status, 401, `revoked key: ${res.status} ${res.text.slice(0, 200)}`);
    assert.match(res.error ?? '', /revoked/i);
    // The owner's key is untouched.
    assert.equal((await fetchTrace(server.apiUrl, traceId, key)).status, 200);
  });

  test('405 for a method other than GET', async () => {
    const [traceId] = byTrace(sent.get('grpc')).keys();
    const res = await fetchTrace(server.apiUrl, traceId, key, { method: 'POST' });
    assert.equal(res.status, 405, res.text);
    assert.match(String(res.headers.allow), /GET/);
  });
});

describe('durability of what the API serves', () => {
  test('after a graceful restart every trace is served from parts', async (t) => {
    const stop = await server.stop();
    assert.deepEqual(stop, { code: 0, signal: null }, `SIGTERM must drain and exit 0:\n${server.stderrTail}`);
    await server.restart();
    assert.equal(await storageGauge('observex_storage_head_rows'), 0, 'the shutdown sealed every head, nothing to replay');
    assert.ok(metricValue(await server.metrics(), 'observex_storage_parts') >= 1, 'no parts after the restart');
    const n = await checkAllSent('after SIGTERM + restart');
    t.diagnostic(`${n} traces checked from parts`);
  });

  test('after SIGKILL the WAL gives back what the head held', async (t) => {
    const spans = await exportWithSdk('http/protobuf', `kill-${run}`);
    sent.set('http/protobuf before SIGKILL', spans);
    const [traceId, list] = [...byTrace(spans)][0];
    checkAnswer(await fetchTraceOnceStored(server.apiUrl, traceId, key, { spans: list.length }), list, 'before SIGKILL');
    assert.ok(await storageGauge('observex_storage_head_rows') > 0, 'the new spans are in the head');
    const res = await server.kill();
    assert.equal(res.signal, 'SIGKILL');
    await server.restart();
    assert.match(server.stderrTail, /storage replay: [1-9]\d* WAL entries/, 'the restart replayed the WAL into storage');
    assert.ok(await storageGauge('observex_storage_head_rows') >= spans.length, 'the replayed spans are in the head again');
    const n = await checkAllSent('after SIGKILL + restart');
    t.diagnostic(`${n} traces checked (parts and replayed WAL)`);
  });

  test('a seal the checkpoint has not caught up with is not replayed twice after SIGKILL', async (t) => {
    // Restart with frequent seals: the replayed head is written as a part within a second or
    // two. Kill as soon as that is seen, often before the WAL checkpoint moves past it.
    await server.stop();
    server.flags['storage-seal-after'] = '1s';
    await server.restart();
    const spans = await exportWithSdk('grpc', `seal-${run}`);
    sent.set('grpc before seal + SIGKILL', spans);
    const [traceId, list] = [...byTrace(spans)][0];
    checkAnswer(await fetchTraceOnceStored(server.apiUrl, traceId, key, { spans: list.length }), list, 'before the seal');
    const deadline = Date.now() + 20_000;
    while (await storageGauge('observex_storage_head_rows') > 0) {
      assert.ok(Date.now() < deadline, 'the head was not sealed within 20 s with --storage-seal-after 1s');
      await sleep(20);
    }
    await server.kill();
    await server.restart();
    const n = await checkAllSent('after seal + SIGKILL + restart');
    t.diagnostic(`${n} traces checked, each once`);
    const stop = await server.stop();
    assert.deepEqual(stop, { code: 0, signal: null });
  });
});
