// OTLP on the wire, written by hand so the suites control every byte (including broken
// ones): a small protobuf writer/reader, builders for Export{Trace,Logs}ServiceRequest,
// decoders for google.rpc.Status and Export*ServiceResponse, a raw HTTP poster and a raw
// gRPC unary caller. Also helpers that turn OTLP/JSON attribute lists into plain objects.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import grpc from '@grpc/grpc-js';

// ---------------------------------------------------------------- protobuf writer

function varint(n) {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out = [];
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

export class Pb {
  constructor() { this.parts = []; }
  tag(field, wire) { this.parts.push(varint((field << 3) | wire)); return this; }
  uint(field, v) { return this.tag(field, 0).raw(varint(v)); }
  bool(field, v) { return this.uint(field, v ? 1 : 0); }
  bytes(field, buf) {
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf);
    return this.tag(field, 2).raw(varint(b.length)).raw(b);
  }
  string(field, s) { return this.bytes(field, Buffer.from(s, 'utf8')); }
  msg(field, pb) { return this.bytes(field, pb instanceof Pb ? pb.finish() : pb); }
  fixed64(field, v) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return this.tag(field, 1).raw(b);
  }
  fixed32(field, v) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return this.tag(field, 5).raw(b);
  }
  double(field, v) {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return this.tag(field, 1).raw(b);
  }
  raw(buf) { this.parts.push(buf); return this; }
  finish() { return Buffer.concat(this.parts); }
}

// ---------------------------------------------------------------- protobuf reader

// Decodes one message level into {field: [values]}: varints as BigInt, length-delimited
// as Buffer, fixed as Buffer. Throws on malformed input.
export function pbFields(buf) {
  const fields = {};
  let i = 0;
  const readVarint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    let value;
    if (wire === 0) value = readVarint();
    else if (wire === 1) { value = buf.subarray(i, i + 8); i += 8; }
    else if (wire === 2) {
      const len = Number(readVarint());
      if (i + len > buf.length) throw new Error('truncated length-delimited field');
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 5) { value = buf.subarray(i, i + 4); i += 4; }
    else throw new Error(`unsupported wire type ${wire}`);
    (fields[field] ??= []).push(value);
  }
  return fields;
}

// google.rpc.Status {code=1, message=2, details=3 (Any{type_url=1, value=2})}, with
// RetryInfo {retry_delay=1 (Duration{seconds=1, nanos=2})} details decoded.
export function decodeRpcStatus(buf) {
  const f = pbFields(buf);
  const status = {
    code: f[1] ? Number(f[1][0]) : 0,
    message: f[2] ? f[2][0].toString('utf8') : '',
    details: [],
  };
  for (const any of f[3] ?? []) {
    const a = pbFields(any);
    const typeUrl = a[1] ? a[1][0].toString('utf8') : '';
    const detail = { typeUrl };
    if (typeUrl.endsWith('google.rpc.RetryInfo') && a[2]) {
      const ri = pbFields(a[2][0]);
      const d = ri[1] ? pbFields(ri[1][0]) : {};
      detail.retryDelaySeconds = Number(d[1]?.[0] ?? 0n) + Number(d[2]?.[0] ?? 0n) / 1e9;
    }
    status.details.push(detail);
  }
  return status;
}

// Export{Trace,Metrics,Logs}ServiceResponse {partial_success=1 {rejected=1, error_message=2}}.
export function decodeExportResponse(buf) {
  const f = pbFields(buf);
  if (!f[1]) return { partialSuccess: null };
  const ps = pbFields(f[1][0]);
  return {
    partialSuccess: {
      rejected: Number(ps[1]?.[0] ?? 0n),
      errorMessage: ps[2] ? ps[2][0].toString('utf8') : '',
    },
  };
}

// ---------------------------------------------------------------- OTLP builders (protobuf)

export function anyValue(v) {
  const pb = new Pb();
  if (typeof v === 'string') pb.string(1, v);
  else if (typeof v === 'boolean') pb.bool(2, v);
  else if (typeof v === 'bigint') pb.uint(3, v);
  else if (typeof v === 'number' && Number.isInteger(v)) pb.uint(3, v);
  else if (typeof v === 'number') pb.double(4, v);
  else if (Array.isArray(v)) {
    const arr = new Pb();
    for (const x of v) arr.msg(1, anyValue(x));
    pb.msg(5, arr);
  } else if (Buffer.isBuffer(v)) pb.bytes(7, v);
  else if (v && typeof v === 'object') {
    const kvl = new Pb();
    for (const [k, x] of Object.entries(v)) kvl.msg(1, keyValue(k, x));
    pb.msg(6, kvl);
  }
  return pb;
}

export function keyValue(k, v) { return new Pb().string(1, k).msg(2, anyValue(v)); }

function attrs(pb, field, obj = {}) {
  for (const [k, v] of Object.entries(obj)) pb.msg(field, keyValue(k, v));
  return pb;
}

export const randomTraceId = () => randomBytes(16);
export const randomSpanId = () => randomBytes(8);
// Well-formed (obx_ + 43 base64url characters of 32 random bytes) but never issued.
export const unknownKey = () => `obx_${randomBytes(32).toString('base64url')}`;

const nowNanos = () => BigInt(Date.now()) * 1_000_000n;

// spans: [{name, traceId?: Buffer, spanId?: Buffer, parentSpanId?: Buffer, attributes?, kind?}]
export function traceRequest({ resource = { 'service.name': 'e2e' }, scope = 'e2e', spans }) {
  const ss = new Pb().msg(1, new Pb().string(1, scope));
  const t = nowNanos();
  for (const s of spans) {
    const span = new Pb()
      .bytes(1, s.traceId ?? randomTraceId())
      .bytes(2, s.spanId ?? randomSpanId());
    if (s.parentSpanId) span.bytes(4, s.parentSpanId);
    span.string(5, s.name)
      .uint(6, s.kind ?? 1)
      .fixed64(7, t)
      .fixed64(8, t + 1_000_000n);
    attrs(span, 9, s.attributes);
    ss.msg(2, span);
  }
  const rs = new Pb().msg(1, attrs(new Pb(), 1, resource)).msg(2, ss);
  return new Pb().msg(1, rs).finish();
}

// records: [{body, attributes?, severityNumber?}]
export function logsRequest({ resource = { 'service.name': 'e2e' }, scope = 'e2e', records }) {
  const sl = new Pb().msg(1, new Pb().string(1, scope));
  const t = nowNanos();
  for (const r of records) {
    const lr = new Pb()
      .fixed64(1, t)
      .uint(2, r.severityNumber ?? 9)
      .string(3, r.severityText ?? 'INFO')
      .msg(5, anyValue(r.body));
    attrs(lr, 6, r.attributes);
    lr.fixed64(11, t);
    sl.msg(2, lr);
  }
  const rl = new Pb().msg(1, attrs(new Pb(), 1, resource)).msg(2, sl);
  return new Pb().msg(1, rl).finish();
}

// ---------------------------------------------------------------- OTLP/JSON builders

const jsonAny = (v) => {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number' && Number.isInteger(v)) return { intValue: String(v) };
  if (typeof v === 'number') return { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(jsonAny) } };
  return { kvlistValue: { values: Object.entries(v).map(([k, x]) => ({ key: k, value: jsonAny(x) })) } };
};
export const jsonAttrs = (obj = {}) => Object.entries(obj).map(([key, v]) => ({ key, value: jsonAny(v) }));

export function traceRequestJson({ resource = { 'service.name': 'e2e' }, scope = 'e2e', spans }) {
  const t = nowNanos();
  return {
    resourceSpans: [{
      resource: { attributes: jsonAttrs(resource) },
      scopeSpans: [{
        scope: { name: scope },
        spans: spans.map((s) => ({
          traceId: (s.traceId ?? randomTraceId()).toString('hex'),
          spanId: (s.spanId ?? randomSpanId()).toString('hex'),
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId.toString('hex') } : {}),
          name: s.name,
          kind: s.kind ?? 1,
          startTimeUnixNano: String(t),
          endTimeUnixNano: String(t + 1_000_000n),
          attributes: jsonAttrs(s.attributes),
        })),
      }],
    }],
  };
}

export function logsRequestJson({ resource = { 'service.name': 'e2e' }, scope = 'e2e', records }) {
  const t = String(nowNanos());
  return {
    resourceLogs: [{
      resource: { attributes: jsonAttrs(resource) },
      scopeLogs: [{
        scope: { name: scope },
        logRecords: records.map((r) => ({
          timeUnixNano: t,
          observedTimeUnixNano: t,
          severityNumber: r.severityNumber ?? 9,
          severityText: r.severityText ?? 'INFO',
          body: jsonAny(r.body),
          attributes: jsonAttrs(r.attributes),
        })),
      }],
    }],
  };
}

// ---------------------------------------------------------------- reading OTLP/JSON

// OTLP/JSON AnyValue → JS value (ints as Number when safe, else BigInt).
export function fromAny(v) {
  if (v == null) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) {
    const b = BigInt(v.intValue);
    return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b;
  }
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(fromAny);
  if ('kvlistValue' in v) return attrsToObject(v.kvlistValue.values ?? []);
  if ('bytesValue' in v) return Buffer.from(v.bytesValue, 'base64');
  return undefined;
}

export function attrsToObject(list = []) {
  const out = {};
  for (const kv of list) out[kv.key] = fromAny(kv.value);
  return out;
}

// True when `needle` occurs as a string anywhere inside `obj` (for "search the JSON for
// the value" checks that must not depend on the dump's exact shape).
export function containsString(obj, needle) {
  if (typeof obj === 'string') return obj.includes(needle);
  if (Array.isArray(obj)) return obj.some((x) => containsString(x, needle));
  if (obj && typeof obj === 'object') return Object.values(obj).some((x) => containsString(x, needle));
  return false;
}

// ---------------------------------------------------------------- raw HTTP

const CONTENT_TYPE = { proto: 'application/x-protobuf', json: 'application/json' };
export { CONTENT_TYPE };

// POST with node:http so that a response sent before the body is fully written (413)
// is still seen. Resolves {status, headers, body: Buffer}; rejects on transport errors
// (the error carries .code, e.g. ECONNRESET) or after timeoutMs.
// expectContinue: send `Expect: 100-continue` and the body only after "100 Continue".
export function httpPost(url, { headers = {}, body = Buffer.alloc(0), method = 'POST', agent, timeoutMs = 30_000, expectContinue = false } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let settled = false;
    const done = (fn, v) => { if (!settled) { settled = true; clearTimeout(timer); fn(v); } };
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent,
      headers: { 'Content-Length': body.length, ...(expectContinue ? { Expect: '100-continue' } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => done(resolve, { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => done(reject, e));
    });
    const timer = setTimeout(() => {
      const e = new Error(`no response within ${timeoutMs} ms`);
      e.code = 'ETIMEDOUT_E2E';
      req.destroy(e);
      done(reject, e);
    }, timeoutMs);
    // A write error after the response has started is expected for 413; the response wins.
    req.on('error', (e) => setTimeout(() => done(reject, e), 50));
    if (expectContinue) {
      req.on('continue', () => req.end(body));
      req.flushHeaders();
    } else {
      req.end(body);
    }
  });
}

// Posts one OTLP request. kind: 'proto' | 'json'; body: Buffer (proto) or object/string (json).
export function postOtlp(baseUrl, path, { key, kind = 'proto', body, headers = {}, agent, timeoutMs, expectContinue } = {}) {
  const h = { 'Content-Type': CONTENT_TYPE[kind], ...headers };
  if (key !== undefined) h.Authorization = `Bearer ${key}`;
  let payload = body;
  if (kind === 'json' && !Buffer.isBuffer(body)) payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return httpPost(`${baseUrl}${path}`, { headers: h, body: payload, agent, timeoutMs, expectContinue });
}

// Reads an error body in the encoding the request used.
export function errorStatus(res, kind) {
  const ct = String(res.headers['content-type'] ?? '');
  if (kind === 'json' || ct.includes('json')) return JSON.parse(res.body.toString('utf8'));
  return decodeRpcStatus(res.body);
}

// ---------------------------------------------------------------- raw gRPC

export const GRPC_EXPORT = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

export function grpcClient(addr, options = {}) {
  return new grpc.Client(addr, grpc.credentials.createInsecure(), options);
}

// One unary call with a raw protobuf body. Resolves {code, details, metadata, response}
// for every status (OK included), so callers assert on codes without try/catch.
export function grpcExport(client, signal, body, { key, deadlineMs = 15_000 } = {}) {
  const md = new grpc.Metadata();
  if (key !== undefined) md.set('authorization', `Bearer ${key}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(GRPC_EXPORT[signal], (b) => b, (b) => b, body, md,
      { deadline: Date.now() + deadlineMs }, (err, response) => {
        if (err) {
          const bin = err.metadata?.get('grpc-status-details-bin')?.[0];
          resolve({ code: err.code, details: err.details, metadata: err.metadata,
                    statusDetails: bin ? decodeRpcStatus(Buffer.from(bin)) : null });
        } else {
          resolve({ code: grpc.status.OK, details: '', response });
        }
      });
  });
}

export { grpc };
