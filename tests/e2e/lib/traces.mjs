// Reading traces back through the query API, `GET /api/v1/traces/{trace_id}` on the API
// address, and comparing what comes back with what a client sent: the answer is OTLP/JSON
// (`{"resourceSpans":[...]}`), so values are brought to one canonical form on both sides
// (ints as decimal strings, whatever the JSON carried them as) before they are compared.
import http from 'node:http';

// GET (or another method) /api/v1/traces/{id}. Resolves {status, headers, text, json, error}:
// json is the parsed body when it parses, error the server's {"error": ...} message.
// `key` undefined sends no Authorization header.
export async function fetchTrace(apiUrl, traceId, key, { method = 'GET', headers = {}, agent, timeoutMs = 30_000 } = {}) {
  const h = { ...headers };
  if (key !== undefined) h.Authorization = `Bearer ${key}`;
  const u = new URL(`${apiUrl}/api/v1/traces/${traceId}`);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = text.length ? JSON.parse(text) : undefined;
        } catch { /* left undefined: the caller reports the text */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json, error: json?.error });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`GET /api/v1/traces/${traceId}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

// Every span of an answer with the resource and scope it was filed under.
export function flattenTrace(json) {
  const out = [];
  for (const rs of json?.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({ span, resource: rs.resource ?? {}, resourceSchemaUrl: rs.schemaUrl ?? '',
                   scope: ss.scope ?? {}, scopeSchemaUrl: ss.schemaUrl ?? '' });
      }
    }
  }
  return out;
}

// Span id (hex) -> how many times it occurs in the answer.
export function spanIdCounts(json) {
  const counts = new Map();
  for (const { span } of flattenTrace(json)) counts.set(span.spanId, (counts.get(span.spanId) ?? 0) + 1);
  return counts;
}

// ---------------------------------------------------------------- canonical values

// An OTLP/JSON AnyValue as a comparable value: ['s', string], ['b', bool], ['i', decimal
// string], ['d', number], ['a', [...]], ['kv', [[key, value], ...]], ['y', base64], ['none'].
export function canonAny(v) {
  if (v == null || typeof v !== 'object') return ['invalid', v];
  if ('stringValue' in v) return ['s', v.stringValue];
  if ('boolValue' in v) return ['b', v.boolValue];
  if ('intValue' in v) return ['i', BigInt(v.intValue).toString()];
  if ('doubleValue' in v) return ['d', Number(v.doubleValue)];
  if ('arrayValue' in v) return ['a', (v.arrayValue?.values ?? []).map(canonAny)];
  if ('kvlistValue' in v) return ['kv', (v.kvlistValue?.values ?? []).map((kv) => [kv.key, canonAny(kv.value)])];
  if ('bytesValue' in v) return ['y', v.bytesValue];
  if (Object.keys(v).length === 0) return ['none'];
  return ['invalid', v];
}

// A JavaScript attribute value as the OpenTelemetry JS SDK puts it on the wire: integral
// numbers as intValue, other numbers as doubleValue, null inside arrays as an empty value.
export function canonJs(v) {
  if (v === null || v === undefined) return ['none'];
  if (typeof v === 'string') return ['s', v];
  if (typeof v === 'boolean') return ['b', v];
  if (typeof v === 'number') return Number.isInteger(v) ? ['i', BigInt(v).toString()] : ['d', v];
  if (typeof v === 'bigint') return ['i', v.toString()];
  if (v instanceof Uint8Array) return ['y', Buffer.from(v).toString('base64')];
  if (Array.isArray(v)) return ['a', v.map(canonJs)];
  if (typeof v === 'object') return ['kv', Object.entries(v).map(([k, x]) => [k, canonJs(x)])];
  return ['invalid', v];
}

// OTLP/JSON attribute list -> [[key, canonical value]] sorted by key. A key that occurs
// twice stays twice, so a comparison with the sent attributes catches it.
export function canonAttrs(list = []) {
  return list.map((kv) => [kv.key, canonAny(kv.value)]).sort(byKey);
}

// SDK attributes object -> the same form as canonAttrs.
export function canonJsAttrs(obj = {}) {
  return Object.entries(obj).map(([k, v]) => [k, canonJs(v)]).sort(byKey);
}

function byKey(a, b) {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

// Acknowledged spans reach the query path once the storage writer has applied their WAL
// entry (within a second), and spans of one trace may come in several requests: asks again
// while the answer is 404 or holds fewer than `spans` spans, up to `withinMs`.
export async function fetchTraceOnceStored(apiUrl, traceId, key, { spans = 1, withinMs = 5000, ...opts } = {}) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const res = await fetchTrace(apiUrl, traceId, key, opts);
    const complete = res.status === 200 && flattenTrace(res.json).length >= spans;
    if (complete || (res.status !== 200 && res.status !== 404) || Date.now() > deadline) return res;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
