// Pieces shared by the kill -9 suites (crash, storage_crash): a seeded PRNG so a failing
// kill schedule can be repeated, and one OTLP request over HTTP (protobuf or JSON) or gRPC
// whose outcome is classified the way a durability check needs it.
import http from 'node:http';

import { grpc, grpcClient, grpcExport, postOtlp } from './otlp.mjs';

// Small seeded PRNG (mulberry32): the same seed gives the same kill schedule.
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The seed from OBSERVEX_E2E_SEED or the clock, reported so the run can be repeated.
export function seedFor(t) {
  const seed = Number(process.env.OBSERVEX_E2E_SEED ?? Date.now() % 2 ** 31);
  t.diagnostic(`seed ${seed} (OBSERVEX_E2E_SEED=${seed} repeats the kill schedule)`);
  return seed;
}

// A sender's connection: one keep-alive HTTP socket, or a gRPC client that reconnects
// quickly after a restart instead of grpc-js's default 1 s+ backoff.
export function senderConnection(server, kind) {
  return {
    agent: new http.Agent({ keepAlive: true, maxSockets: 1 }),
    client: kind === 'grpc' ? grpcClient(server.grpcAddr, {
      'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 300,
    }) : null,
  };
}

export function closeConnection(conn) {
  conn.agent.destroy();
  conn.client?.close();
}

// One export request. Resolves 'ack' (200 / OK), 'refused' (429 / 503 / RESOURCE_EXHAUSTED:
// not stored, worth a retry) or 'unknown' (no answer: the server died under it or was down).
// Anything else for a valid request is a bug and throws. Counts every answer in
// stats.statuses.
export async function sendExport({ server, conn, kind, signal, key, body, stats }) {
  if (kind === 'grpc') {
    const r = await grpcExport(conn.client, signal, body, { key, deadlineMs: 20_000 });
    stats.statuses[`grpc ${r.code}`] = (stats.statuses[`grpc ${r.code}`] ?? 0) + 1;
    if (r.code === grpc.status.OK) return 'ack';
    if (r.code === grpc.status.RESOURCE_EXHAUSTED) return 'refused';
    if ([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED,
      grpc.status.INTERNAL, grpc.status.UNKNOWN].includes(r.code)) return 'unknown';
    throw new Error(`unexpected gRPC ${r.code} for a valid request: ${r.details}`);
  }
  let res;
  try {
    res = await postOtlp(server.httpUrl, `/v1/${signal}`, { key, kind, body, agent: conn.agent, timeoutMs: 20_000 });
  } catch {
    conn.agent.destroy();
    conn.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return 'unknown';
  }
  stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
  if (res.status === 200) return 'ack';
  if (res.status === 429 || res.status === 503) return 'refused';
  throw new Error(`unexpected ${res.status} for a valid request: ${res.body.toString().slice(0, 300)}`);
}
