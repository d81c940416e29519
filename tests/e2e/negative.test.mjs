// Bad input and bad credentials at the OTLP receivers: each gets the status the OTLP
// specification asks for and a message that names the problem, nothing of it reaches the
// WAL, and the server keeps serving (the last tests send valid requests and get 200).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';

import {
  decodeExportResponse, decodeRpcStatus, errorStatus, grpc, grpcClient, grpcExport,
  logsRequest, Pb, postOtlp, unknownKey, randomSpanId, randomTraceId, traceRequest, traceRequestJson,
} from './lib/otlp.mjs';
import {
  createKey, listKeys, metricValue, MiB, revokeKey, startServer, stopAll, walDump,
} from './lib/server.mjs';

const MAX_BODY = 2 * MiB;
const MAX_ATTRIBUTES = 128;
const run = `neg-${process.pid}-${Date.now().toString(36)}`;

let server;
let key;
let otherKey;
let grpcc;

before(async () => {
  server = await startServer({
    flags: { 'max-body-bytes': '2MiB', 'max-attributes': MAX_ATTRIBUTES, 'memory-budget': '256MiB' },
  });
  assert.ok(server.firstKey, `the first start must print the default tenant's key:\n${server.stdout}`);
  key = await createKey(server.dataDir, 'neg-main');
  otherKey = await createKey(server.dataDir, 'neg-other');
  grpcc = grpcClient(server.grpcAddr);
});

after(async () => {
  grpcc?.close();
  const res = server ? await server.stop() : null;
  await server?.dispose();
  await stopAll();
  if (res) assert.deepEqual(res, { code: 0, signal: null }, 'SIGTERM must drain and exit 0');
});

let refusedAfterRevoke = null;
const validTraces = (name) => traceRequest({ spans: [{ name, attributes: { 'neg.run': run } }] });

// Every signal in the WAL under the test's tenants, for "nothing of it was stored" checks.
async function storedNames() {
  const names = new Set();
  for (const rec of await walDump(server.dataDir)) {
    const s = rec.signal;
    if (s.span) names.add(s.span.name);
    if (s.logRecord?.body?.stringValue) names.add(s.logRecord.body.stringValue);
  }
  return names;
}

describe('authentication (HTTP)', () => {
  test('no Authorization header → 401 UNAUTHENTICATED naming the missing key (protobuf)', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', { body: validTraces(`${run}-nokey`) });
    assert.equal(res.status, 401);
    assert.match(String(res.headers['content-type']), /application\/x-protobuf/);
    const st = decodeRpcStatus(res.body);
    assert.equal(st.code, grpc.status.UNAUTHENTICATED);
    assert.match(st.message, /missing/i);
    assert.match(st.message, /key/i);
  });

  test('no Authorization header → 401 with a JSON google.rpc.Status (JSON)', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/logs', {
      kind: 'json', body: { resourceLogs: [] },
    });
    assert.equal(res.status, 401);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const st = JSON.parse(res.body.toString());
    assert.equal(st.code, 16);
    assert.match(st.message, /missing/i);
  });

  test('unknown key → 401 saying the key is unknown', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', {
      key: unknownKey(), body: validTraces(`${run}-unknown`),
    });
    assert.equal(res.status, 401);
    const st = errorStatus(res, 'proto');
    assert.equal(st.code, grpc.status.UNAUTHENTICATED);
    assert.match(st.message, /unknown|invalid|not (recognized|valid)/i);
    assert.match(st.message, /key/i);
  });

  test('malformed key → 401 saying what a key looks like', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', {
      key: 'not-a-key', body: validTraces(`${run}-malformed-key`),
    });
    assert.equal(res.status, 401);
    const st = errorStatus(res, 'proto');
    assert.equal(st.code, grpc.status.UNAUTHENTICATED);
    assert.match(st.message, /malformed|invalid/i);
  });

  test('a key revoked with the CLI while the server runs is refused within 5 s', async () => {
    const tenant = `neg-revoke-${process.pid}`;
    const k = await createKey(server.dataDir, tenant);
    const ok = await postOtlp(server.httpUrl, '/v1/traces', { key: k, body: validTraces(`${run}-before-revoke`) });
    assert.equal(ok.status, 200, `the fresh key must work before it is revoked: ${ok.body}`);

    const { rows, raw } = await listKeys(server.dataDir);
    assert.ok(!raw.includes(k), "'keys list' must never show a key");
    const row = rows.find((r) => r.tenant === tenant);
    assert.ok(row, `no row for tenant ${tenant} in:\n${raw}`);
    assert.ok(k.startsWith(row.prefix), `listed prefix ${row.prefix} is not the key's prefix`);
    assert.equal(row.revoked, '-');

    await revokeKey(server.dataDir, row.id);
    const revokedAt = Date.now();
    let last;
    // Requests sent before the revocation reaches the server are accepted (and stored);
    // the refused one has its own name so the final test can check it was not stored.
    for (let i = 0; Date.now() - revokedAt <= 5000; i++) {
      last = await postOtlp(server.httpUrl, '/v1/traces', { key: k, body: validTraces(`${run}-after-revoke-${i}`) });
      if (last.status === 401) {
        refusedAfterRevoke = `${run}-after-revoke-${i}`;
        break;
      }
      assert.equal(last.status, 200, `unexpected ${last.status} while waiting for the revocation`);
      await sleep(100);
    }
    assert.equal(last.status, 401, `revoked key still accepted ${Date.now() - revokedAt} ms after 'keys revoke'`);
    const st = errorStatus(last, 'proto');
    assert.equal(st.code, grpc.status.UNAUTHENTICATED);
    assert.match(st.message, /revoked/i);

    const after = await listKeys(server.dataDir);
    assert.notEqual(after.rows.find((r) => r.id === row.id).revoked, '-', 'keys list must show the revocation');
    // The other tenants' keys are untouched.
    const still = await postOtlp(server.httpUrl, '/v1/traces', { key, body: validTraces(`${run}-other-still-ok`) });
    assert.equal(still.status, 200);
  });
});

describe('malformed and invalid bodies (HTTP)', () => {
  test('malformed protobuf → 400 INVALID_ARGUMENT naming the decoding problem', async () => {
    // Field 1 (resource_spans) claims 0x7f bytes but only 3 follow.
    const body = Buffer.from([0x0a, 0x7f, 0x01, 0x02, 0x03]);
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, body });
    assert.equal(res.status, 400);
    assert.match(String(res.headers['content-type']), /application\/x-protobuf/);
    const st = decodeRpcStatus(res.body);
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
    assert.match(st.message, /truncat|length|malformed|invalid|parse/i);
  });

  test('protobuf with an invalid wire type → 400', async () => {
    const body = Buffer.from([0x0f, 0x00]); // field 1, wire type 7
    const res = await postOtlp(server.httpUrl, '/v1/logs', { key, body });
    assert.equal(res.status, 400);
    assert.match(decodeRpcStatus(res.body).message, /wire type|invalid|malformed/i);
  });

  test('JSON that is not JSON → 400 with a JSON Status', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, kind: 'json', body: '{"resourceSpans": [' });
    assert.equal(res.status, 400);
    const st = JSON.parse(res.body.toString());
    assert.equal(st.code, 3);
    assert.match(st.message, /json|parse|syntax|unexpected|invalid/i);
  });

  test('JSON with wrong types → 400 naming the field', async () => {
    const cases = [
      [{ resourceSpans: 'not-an-array' }, /resourceSpans/],
      [{ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: randomTraceId().toString('hex'), spanId: randomSpanId().toString('hex'), name: 42 }] }] }] }, /name/],
      [{ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: randomTraceId().toString('hex'), spanId: randomSpanId().toString('hex'), name: 'x', startTimeUnixNano: { nested: true } }] }] }] }, /startTimeUnixNano/],
    ];
    for (const [body, field] of cases) {
      const res = await postOtlp(server.httpUrl, '/v1/traces', { key, kind: 'json', body });
      assert.equal(res.status, 400, `expected 400 for ${JSON.stringify(body).slice(0, 120)}, got ${res.status}: ${res.body}`);
      const st = JSON.parse(res.body.toString());
      assert.equal(st.code, 3);
      assert.match(st.message, field, `message does not name the field: ${st.message}`);
    }
  });

  test('trace id of the wrong length → 400 naming traceId and the expected size (protobuf and JSON)', async () => {
    const proto = traceRequest({ spans: [{ name: `${run}-short-id`, traceId: Buffer.alloc(8, 1) }] });
    const r1 = await postOtlp(server.httpUrl, '/v1/traces', { key, body: proto });
    assert.equal(r1.status, 400);
    const s1 = decodeRpcStatus(r1.body);
    assert.equal(s1.code, grpc.status.INVALID_ARGUMENT);
    assert.match(s1.message, /trace_?id/i);
    assert.match(s1.message, /16/);

    const json = traceRequestJson({ spans: [{ name: `${run}-short-id-json` }] });
    json.resourceSpans[0].scopeSpans[0].spans[0].traceId = 'abcd';
    const r2 = await postOtlp(server.httpUrl, '/v1/traces', { key, kind: 'json', body: json });
    assert.equal(r2.status, 400);
    const s2 = JSON.parse(r2.body.toString());
    assert.match(s2.message, /trace_?id/i);
    assert.match(s2.message, /16|32/);

    const names = await storedNames();
    assert.ok(!names.has(`${run}-short-id`) && !names.has(`${run}-short-id-json`), 'a rejected span reached the WAL');
  });

  test('AnyValue nested 500 levels deep → 400 naming the nesting', async () => {
    let value = { stringValue: 'leaf' };
    for (let i = 0; i < 500; i++) value = { kvlistValue: { values: [{ key: `k${i}`, value }] } };
    const json = traceRequestJson({ spans: [{ name: `${run}-deep` }] });
    json.resourceSpans[0].scopeSpans[0].spans[0].attributes = [{ key: 'deep', value }];
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, kind: 'json', body: json });
    assert.equal(res.status, 400, `got ${res.status}: ${res.body.toString().slice(0, 300)}`);
    assert.match(JSON.parse(res.body.toString()).message, /nest|deep|depth/i);
  });

  test('invalid UTF-8 in a protobuf string → 400 naming UTF-8', async () => {
    const name = Buffer.from([0x6f, 0x6b, 0xff, 0xfe, 0x21]); // "ok\xff\xfe!"
    const span = new Pb().bytes(1, randomTraceId()).bytes(2, randomSpanId()).bytes(5, name)
      .fixed64(7, 1n).fixed64(8, 2n);
    const body = new Pb().msg(1, new Pb().msg(2, new Pb().msg(2, span))).finish();
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, body });
    assert.equal(res.status, 400, `got ${res.status}: ${res.body.toString().slice(0, 300)}`);
    assert.match(decodeRpcStatus(res.body).message, /utf-?8/i);
  });

  test('unknown path → 404 naming the OTLP routes', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/spans', { key, body: validTraces(`${run}-404`) });
    assert.equal(res.status, 404);
    assert.match(res.body.toString(), /\/v1\/traces/);
  });

  test('gzip bomb (small body inflating past --max-body-bytes) → 413', async () => {
    const inflated = Buffer.alloc(64 * MiB); // zeros: ~64 KiB compressed
    const body = zlib.gzipSync(inflated, { level: 9 });
    assert.ok(body.length < MAX_BODY / 8, 'the bomb itself must be far under the limit');
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, body, headers: { 'Content-Encoding': 'gzip' } });
    assert.equal(res.status, 413);
    const st = errorStatus(res, 'proto');
    assert.match(st.message, /limit|too large|exceeds/i);
    assert.match(st.message, new RegExp(String(MAX_BODY)));
  });

  test('corrupt gzip → 400 naming gzip', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', {
      key, body: Buffer.from('this is not gzip at all'), headers: { 'Content-Encoding': 'gzip' },
    });
    assert.equal(res.status, 400);
    assert.match(errorStatus(res, 'proto').message, /gzip/i);
  });

  // A plain client (no Expect: 100-continue) writes the whole body before it reads. The
  // OTLP exporters are such clients, so the 413 must reach them: the server has to keep
  // reading (and discarding) after answering instead of resetting the connection.
  test('body over --max-body-bytes → 413 naming the limit (plain client writing the whole body)', async () => {
    // Far larger than the socket buffers, so the client is still writing when the server
    // answers; with a body that fits in them the outcome would depend on timing.
    const body = Buffer.alloc(8 * MAX_BODY, 0x41);
    let res;
    try {
      res = await postOtlp(server.httpUrl, '/v1/traces', { key, body });
    } catch (e) {
      assert.fail(`the client got ${e.code ?? e.message} instead of a 413 response: the server closed ` +
                  'the connection without reading the body, so the reset discarded its answer');
    }
    assert.equal(res.status, 413);
    const text = res.body.toString();
    assert.match(text, /limit|too large|exceeds/i);
    assert.match(text, new RegExp(String(MAX_BODY)));
  });

  test('body over --max-body-bytes → 413 before the body is sent (Expect: 100-continue)', async () => {
    const body = Buffer.alloc(MAX_BODY + 64 * 1024, 0x41);
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, body, expectContinue: true });
    assert.equal(res.status, 413);
    const text = res.body.toString();
    assert.match(text, /limit|too large|exceeds/i);
    assert.match(text, new RegExp(String(MAX_BODY)));
  });

  test('wrong content type → 415 naming the type', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', {
      key, body: validTraces(`${run}-text-plain`), headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(res.status, 415);
    const st = errorStatus(res, 'json');
    assert.match(st.message, /content.?type|text\/plain|media type/i);
  });

  test('unsupported Content-Encoding → 415 naming the encoding', async () => {
    const res = await postOtlp(server.httpUrl, '/v1/traces', {
      key, body: validTraces(`${run}-br`), headers: { 'Content-Encoding': 'br' },
    });
    assert.equal(res.status, 415);
    assert.match(errorStatus(res, 'proto').message, /br/);
  });

  test('GET on an OTLP route → 405 with Allow: POST', async () => {
    const r = await fetch(`${server.httpUrl}/v1/traces`, { headers: { Authorization: `Bearer ${key}` } });
    await r.arrayBuffer();
    assert.equal(r.status, 405);
    assert.match(r.headers.get('allow') ?? '', /POST/);
  });

  test('10,000 attributes on one span → 200 with partialSuccess naming the dropped attributes; the span is kept with the limit', async () => {
    const attributes = {};
    for (let i = 0; i < 10_000; i++) attributes[`attr.${i}`] = `v${i}`;
    const name = `${run}-10k-attrs`;
    const res = await postOtlp(server.httpUrl, '/v1/traces', { key, body: traceRequest({ spans: [{ name, attributes }] }) });
    assert.equal(res.status, 200, `got ${res.status}: ${res.body.toString().slice(0, 300)}`);
    const { partialSuccess } = decodeExportResponse(res.body);
    assert.ok(partialSuccess, 'expected partial_success in the response');
    assert.match(partialSuccess.errorMessage, /attribute/i);
    assert.match(partialSuccess.errorMessage, /drop|truncat/i);
    assert.equal(partialSuccess.rejected, 0, 'the span itself must not be rejected');

    // JSON: the same through the JSON encoding.
    const json = traceRequestJson({ spans: [{ name: `${name}-json`, attributes }] });
    const rj = await postOtlp(server.httpUrl, '/v1/traces', { key, kind: 'json', body: json });
    assert.equal(rj.status, 200);
    const pj = JSON.parse(rj.body.toString()).partialSuccess;
    assert.ok(pj, `expected partialSuccess in ${rj.body}`);
    assert.match(pj.errorMessage, /attribute/i);

    const spans = (await walDump(server.dataDir, { tenant: 'neg-main', type: 'traces' }))
      .filter((r) => r.signal.span?.name === name);
    assert.equal(spans.length, 1);
    const kept = spans[0].signal.span.attributes ?? [];
    assert.equal(kept.length, MAX_ATTRIBUTES, `--max-attributes ${MAX_ATTRIBUTES} must be kept`);
    assert.equal(spans[0].signal.span.droppedAttributesCount, 10_000 - MAX_ATTRIBUTES);
  });
});

describe('gRPC', () => {
  test('missing key → UNAUTHENTICATED', async () => {
    const r = await grpcExport(grpcc, 'traces', validTraces(`${run}-grpc-nokey`));
    assert.equal(r.code, grpc.status.UNAUTHENTICATED, `got ${r.code}: ${r.details}`);
    assert.match(r.details, /key/i);
  });

  test('unknown key → UNAUTHENTICATED', async () => {
    const r = await grpcExport(grpcc, 'logs', logsRequest({ records: [{ body: `${run}-grpc-unknown` }] }),
      { key: unknownKey() });
    assert.equal(r.code, grpc.status.UNAUTHENTICATED, `got ${r.code}: ${r.details}`);
    assert.match(r.details, /unknown|invalid/i);
  });

  test('malformed protobuf → INVALID_ARGUMENT naming the problem', async () => {
    const r = await grpcExport(grpcc, 'traces', Buffer.from([0x0a, 0x7f, 0x01]), { key });
    assert.equal(r.code, grpc.status.INVALID_ARGUMENT, `got ${r.code}: ${r.details}`);
    assert.match(r.details, /truncat|length|malformed|invalid|parse/i);
  });

  test('message over --max-body-bytes → RESOURCE_EXHAUSTED naming the size', async () => {
    const pad = 'p'.repeat(1000);
    const records = Array.from({ length: 3000 }, (_, i) => ({ body: `${run}-grpc-big-${i} ${pad}` }));
    const body = logsRequest({ records });
    assert.ok(body.length > MAX_BODY);
    const r = await grpcExport(grpcc, 'logs', body, { key });
    assert.equal(r.code, grpc.status.RESOURCE_EXHAUSTED, `got ${r.code}: ${r.details}`);
    assert.match(r.details, /larger|exceeds|limit|max/i);
    assert.match(r.details, new RegExp(String(MAX_BODY)));
  });

  test('invalid span id length → INVALID_ARGUMENT naming spanId', async () => {
    const body = traceRequest({ spans: [{ name: `${run}-grpc-short-span`, spanId: Buffer.alloc(3, 7) }] });
    const r = await grpcExport(grpcc, 'traces', body, { key });
    assert.equal(r.code, grpc.status.INVALID_ARGUMENT);
    assert.match(r.details, /span_?id/i);
  });
});

describe('after all of the above', () => {
  test('the server still answers valid requests with 200 / OK and stores them for the right tenant', async () => {
    const httpName = `${run}-final-http`;
    const jsonName = `${run}-final-json`;
    const grpcName = `${run}-final-grpc`;
    const logBody = `${run}-final-log`;
    const r1 = await postOtlp(server.httpUrl, '/v1/traces', { key, body: validTraces(httpName) });
    assert.equal(r1.status, 200);
    assert.deepEqual(decodeExportResponse(r1.body), { partialSuccess: null });
    const r2 = await postOtlp(server.httpUrl, '/v1/traces', {
      key: otherKey, kind: 'json', body: traceRequestJson({ spans: [{ name: jsonName }] }),
    });
    assert.equal(r2.status, 200);
    const r3 = await grpcExport(grpcc, 'traces', validTraces(grpcName), { key });
    assert.equal(r3.code, grpc.status.OK, `gRPC: ${r3.details}`);
    const r4 = await postOtlp(server.httpUrl, '/v1/logs', {
      key, body: logsRequest({ records: [{ body: logBody }] }), headers: { 'Content-Encoding': 'gzip' },
    }).catch((e) => e);
    // That body was not gzipped: the server must say so and keep going.
    assert.equal(r4.status, 400);
    const r5 = await postOtlp(server.httpUrl, '/v1/logs', {
      key, body: zlib.gzipSync(logsRequest({ records: [{ body: logBody }] })), headers: { 'Content-Encoding': 'gzip' },
    });
    assert.equal(r5.status, 200);

    const recs = await walDump(server.dataDir);
    const byName = (n) => recs.filter((r) => r.signal.span?.name === n || r.signal.logRecord?.body?.stringValue === n);
    assert.deepEqual(byName(httpName).map((r) => r.tenant), ['neg-main']);
    assert.deepEqual(byName(jsonName).map((r) => r.tenant), ['neg-other']);
    assert.deepEqual(byName(grpcName).map((r) => r.tenant), ['neg-main']);
    assert.deepEqual(byName(logBody).map((r) => r.tenant), ['neg-main']);

    // Nothing from the refused requests was stored.
    const names = await storedNames();
    assert.ok(refusedAfterRevoke, 'the revocation test did not run to its refusal');
    for (const refused of [`${run}-nokey`, `${run}-unknown`, `${run}-malformed-key`, refusedAfterRevoke, `${run}-text-plain`,
      `${run}-br`, `${run}-grpc-nokey`, `${run}-grpc-unknown`, `${run}-grpc-short-span`]) {
      assert.ok(!names.has(refused), `refused request ${refused} reached the WAL`);
    }
  });

  test('/metrics counts the refusals: auth drops and 4xx responses per route', async () => {
    const m = await server.metrics();
    const authDrops = metricValue(m, 'observex_ingest_signals_dropped_total', { reason: 'auth' });
    assert.ok(authDrops >= 4, `observex_ingest_signals_dropped_total{reason="auth"} = ${authDrops}`);
    const http401 = metricValue(m, 'observex_http_requests_total', { route: '/v1/traces', code: '401' });
    assert.ok(http401 >= 3, `observex_http_requests_total{route="/v1/traces",code="401"} = ${http401}`);
    const http400 = metricValue(m, 'observex_http_requests_total', { route: '/v1/traces', code: '400' });
    assert.ok(http400 >= 4, `observex_http_requests_total{route="/v1/traces",code="400"} = ${http400}`);
    const grpcUnauth = metricValue(m, 'observex_grpc_requests_total', { code: 'UNAUTHENTICATED' });
    assert.ok(grpcUnauth >= 2, `observex_grpc_requests_total{code="UNAUTHENTICATED"} = ${grpcUnauth}`);
    const received = metricValue(m, 'observex_ingest_signals_received_total', { tenant: 'neg-main', type: 'traces' });
    assert.ok(received >= 3, `observex_ingest_signals_received_total{tenant="neg-main",type="traces"} = ${received}`);
  });
});
