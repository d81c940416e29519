// Tenant isolation of trace look-ups: two tenants send spans with IDENTICAL trace ids (and
// even identical span ids) but different attributes and resources; `GET /api/v1/traces/{id}`
// gives each tenant only its own spans, and 404 for a trace only the other tenant has. The
// same holds while the spans sit in the in-memory head, once they are in parts after a
// graceful restart, and after background merges, and on disk every directory is named by
// the tenant's numeric id, never by its name.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { containsString, grpc, grpcClient, grpcExport, postOtlp, traceRequest, traceRequestJson } from './lib/otlp.mjs';
import { createKey, metricValue, startServer, stopAll } from './lib/server.mjs';
import { canonAttrs, canonJsAttrs, fetchTrace, fetchTraceOnceStored, flattenTrace } from './lib/traces.mjs';

const run = randomBytes(4).toString('hex');
const TENANT_A = `iso-a-${run}`;
const TENANT_B = 'other';

let server;
const keys = {};

before(async () => {
  server = await startServer({ flags: { 'storage-seal-after': '1h' } });
  keys.A = await createKey(server.dataDir, TENANT_A);
  keys.B = await createKey(server.dataDir, TENANT_B);
  keys.C = await createKey(server.dataDir, `iso-silent-${run}`); // never sends anything
});

after(async () => {
  await server?.dispose();
  await stopAll();
});

const hex = (n) => randomBytes(n);
const shared = hex(16); // one trace id both tenants use
const sharedSpanId = hex(8); // and one span id both use inside it
const onlyA = hex(16);
const onlyB = hex(16);

// What each tenant sent: trace id (hex) -> Map(span id hex -> {attributes, resource}).
const sentBy = { A: new Map(), B: new Map() };

function remember(who, traceId, spans, resource) {
  const id = traceId.toString('hex');
  if (!sentBy[who].has(id)) sentBy[who].set(id, new Map());
  for (const s of spans) sentBy[who].get(id).set(s.spanId.toString('hex'), { attributes: s.attributes, resource, name: s.name });
}

// One request per tenant and trace, over a transport chosen per round so both the protobuf
// and JSON decoders and gRPC carry colliding ids.
async function send(who, via, traceId, spans, resource) {
  const key = keys[who];
  let status;
  if (via === 'grpc') {
    const client = grpcClient(server.grpcAddr);
    try {
      const r = await grpcExport(client, 'traces', traceRequest({ resource, scope: `scope-${who}`, spans }), { key });
      assert.equal(r.code, grpc.status.OK, `${who} over gRPC: ${r.details}`);
    } finally {
      client.close();
    }
    status = 200;
  } else {
    const body = via === 'json' ? traceRequestJson({ resource, scope: `scope-${who}`, spans }) : traceRequest({ resource, scope: `scope-${who}`, spans });
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, kind: via, body });
    status = res.status;
    assert.equal(status, 200, `${who} over ${via}: ${res.body.toString().slice(0, 300)}`);
  }
  remember(who, traceId, spans, resource);
}

// A round: both tenants add spans to the shared trace, each adds one to its own trace.
async function round(n, viaA, viaB) {
  const spansA = [
    { name: `a-${n}-0`, traceId: shared, spanId: n === 0 ? sharedSpanId : hex(8), attributes: { owner: 'A', secret: `a-secret-${run}`, round: n } },
    { name: `a-${n}-1`, traceId: shared, spanId: hex(8), attributes: { owner: 'A', round: n, ratio: 0.5 } },
  ];
  const spansB = [
    { name: `b-${n}-0`, traceId: shared, spanId: n === 0 ? sharedSpanId : hex(8), attributes: { owner: 'B', secret: `b-secret-${run}`, round: n } },
    { name: `b-${n}-1`, traceId: shared, spanId: hex(8), attributes: { owner: 'B', round: n, flag: true } },
    { name: `b-${n}-2`, traceId: shared, spanId: hex(8), attributes: { owner: 'B', round: n } },
  ];
  await send('A', viaA, shared, spansA, { 'service.name': 'svc-a', 'tenant.label': 'A' });
  await send('B', viaB, shared, spansB, { 'service.name': 'svc-b', 'tenant.label': 'B' });
  await send('A', viaA, onlyA, [{ name: `a-only-${n}`, traceId: onlyA, spanId: hex(8), attributes: { owner: 'A', round: n } }],
    { 'service.name': 'svc-a', 'tenant.label': 'A' });
  await send('B', viaB, onlyB, [{ name: `b-only-${n}`, traceId: onlyB, spanId: hex(8), attributes: { owner: 'B', round: n } }],
    { 'service.name': 'svc-b', 'tenant.label': 'B' });
}

// Each tenant gets exactly what it sent for every trace it sent to, and 404 for the trace
// only the other one has; the silent tenant gets 404 for all.
async function checkIsolation(where, { waitForStorage = false } = {}) {
  for (const [who, other] of [['A', 'B'], ['B', 'A']]) {
    for (const [traceId, spans] of sentBy[who]) {
      const res = waitForStorage
        ? await fetchTraceOnceStored(server.apiUrl, traceId, keys[who], { spans: spans.size })
        : await fetchTrace(server.apiUrl, traceId, keys[who]);
      const label = `${where}: tenant ${who}, trace ${traceId}`;
      assert.equal(res.status, 200, `${label}: ${res.status} ${res.text.slice(0, 300)}`);
      const flat = flattenTrace(res.json);
      const ids = flat.map((g) => g.span.spanId).sort();
      assert.deepEqual(ids, [...spans.keys()].sort(), `${label}: span ids (each once, none of tenant ${other})`);
      for (const g of flat) {
        const want = spans.get(g.span.spanId);
        assert.equal(g.span.name, want.name, `${label}: span ${g.span.spanId} name`);
        assert.deepEqual(canonAttrs(g.span.attributes), canonJsAttrs(want.attributes), `${label}: span ${g.span.name} attributes`);
        assert.deepEqual(canonAttrs(g.resource.attributes), canonJsAttrs(want.resource), `${label}: span ${g.span.name} resource`);
        assert.equal(g.scope.name, `scope-${who}`, `${label}: span ${g.span.name} scope`);
      }
      assert.ok(!containsString(res.json, `${other.toLowerCase()}-secret-${run}`), `${label}: the other tenant's secret is in the answer`);
      assert.ok(!containsString(res.json, `svc-${other.toLowerCase()}`), `${label}: the other tenant's resource is in the answer`);
    }
  }
  const aOnly = onlyA.toString('hex');
  const bOnly = onlyB.toString('hex');
  const bAsksA = await fetchTrace(server.apiUrl, aOnly, keys.B);
  assert.equal(bAsksA.status, 404, `${where}: tenant B asked for a trace only A has: ${bAsksA.status} ${bAsksA.text.slice(0, 300)}`);
  const aAsksB = await fetchTrace(server.apiUrl, bOnly, keys.A);
  assert.equal(aAsksB.status, 404, `${where}: tenant A asked for a trace only B has: ${aAsksB.status} ${aAsksB.text.slice(0, 300)}`);
  for (const id of [shared.toString('hex'), aOnly, bOnly]) {
    const res = await fetchTrace(server.apiUrl, id, keys.C);
    assert.equal(res.status, 404, `${where}: a tenant without data asked for ${id}: ${res.status} ${res.text.slice(0, 300)}`);
  }
}

test('identical trace and span ids from two tenants: each reads only its own spans (head)', async () => {
  await round(0, 'proto', 'json');
  await round(1, 'json', 'grpc');
  assert.equal(sentBy.A.get(shared.toString('hex')).size, 4);
  assert.equal(sentBy.B.get(shared.toString('hex')).size, 6);
  await checkIsolation('head', { waitForStorage: true });
  const m = await server.metrics();
  const total = [...sentBy.A.values(), ...sentBy.B.values()].reduce((n, spans) => n + spans.size, 0);
  assert.equal(metricValue(m, 'observex_storage_head_rows'), total, 'the spans are all in the head still');
});

test('the same after a graceful restart, from parts', async () => {
  const stop = await server.stop();
  assert.deepEqual(stop, { code: 0, signal: null }, server.stderrTail);
  await server.restart();
  const m = await server.metrics();
  assert.equal(metricValue(m, 'observex_storage_head_rows'), 0, 'everything was sealed at shutdown');
  assert.ok(metricValue(m, 'observex_storage_parts') >= 2, 'one part per tenant at least');
  await checkIsolation('parts');
});

test('the same after parts of both tenants are merged', async (t) => {
  await server.stop();
  Object.assign(server.flags, {
    'storage-seal-after': '1s', 'storage-max-parts-per-day': '1', 'storage-merge-bytes-per-second': '0',
  });
  await server.restart();
  // Each round is sealed into its own part per tenant (the head's age bound is 1 s).
  for (let n = 2; n < 5; n++) {
    await round(n, n % 2 ? 'grpc' : 'proto', n % 2 ? 'proto' : 'json');
    await checkIsolation(`round ${n}`, { waitForStorage: true });
    await sleep(1200);
  }
  // Every tenant had several parts of today; merges bring each down to one.
  const deadline = Date.now() + 30_000;
  let merges;
  let layout;
  for (;;) {
    const m = await server.metrics();
    merges = metricValue(m, 'observex_storage_parts_written_total', { kind: 'merge' }) ?? 0;
    layout = partDirs();
    const merged = Object.keys(layout).length >= 2 && Object.values(layout).every((n) => n === 1);
    if (merged && merges >= 2 && metricValue(m, 'observex_storage_head_rows') === 0) break;
    assert.ok(Date.now() < deadline, `parts were not merged within 30 s: ${merges} merges, parts ${JSON.stringify(layout)}`);
    await sleep(200);
  }
  t.diagnostic(`${merges} merges; parts per tenant and day: ${JSON.stringify(layout)}`);
  await checkIsolation('merged parts');
});

// storage/<tenant id>/spans/<day> -> number of part directories in it.
function partDirs() {
  const root = path.join(server.dataDir, 'storage');
  const out = {};
  for (const tenant of readdirSync(root)) {
    if (tenant === 'quarantine') continue;
    const spans = path.join(root, tenant, 'spans');
    let days = [];
    try {
      days = readdirSync(spans);
    } catch { continue; }
    for (const day of days) {
      out[`${tenant}/${day}`] = readdirSync(path.join(spans, day)).filter((n) => n.startsWith('p-')).length;
    }
  }
  return out;
}

test('storage directories are named by numeric tenant id only', () => {
  const root = path.join(server.dataDir, 'storage');
  const names = readdirSync(root);
  const tenants = names.filter((n) => n !== 'quarantine');
  assert.ok(tenants.length >= 2, `expected a directory per tenant in ${root}: ${names.join(', ')}`);
  for (const n of tenants) assert.match(n, /^[1-9]\d*$/, `directory '${n}' under storage/ is not a tenant id`);
  for (const name of [TENANT_A, TENANT_B]) assert.ok(!names.includes(name));
});
