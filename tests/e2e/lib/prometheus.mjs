// A real Prometheus server for the suites that check ObserveX against it: finds the
// executable, runs it on a free loopback port with a temporary TSDB and a generated
// configuration, and speaks the Prometheus HTTP API to it and to ObserveX's /prom/api/v1.
// Also the pieces of remote write 1.0 a suite needs to send a request by hand (a
// WriteRequest protobuf and snappy's block format).
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Pb } from './otlp.mjs';
import { freePort, removeDir, tempDir } from './server.mjs';

// PROMETHEUS_BIN if set (it must then be executable), else `prometheus` on PATH; null when
// there is none.
export function findPrometheus() {
  if (process.env.PROMETHEUS_BIN) {
    accessSync(process.env.PROMETHEUS_BIN, fsConstants.X_OK);
    return process.env.PROMETHEUS_BIN;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'prometheus');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch { /* not here */ }
  }
  return null;
}

// A suite that dies (uncaught error, ctest's timeout, Ctrl-C) must not leave Prometheus
// running or its TSDB behind. server.mjs re-raises these signals after its own clean-up;
// every listener of a signal runs before the re-raised one arrives.
const running = new Set();
const dirs = new Set();
function killAllNow() {
  for (const p of running) {
    try { p.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  if (!process.env.OBSERVEX_E2E_KEEP) {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(sig, killAllNow);

// One `prometheus` process with its own temporary directory (configuration and TSDB).
// `config(port)` returns the configuration object for the port it will listen on; it is
// written as JSON, which YAML reads as it is.
export class PrometheusServer {
  constructor({ bin }) {
    this.bin = bin;
    this.dir = tempDir('observex-e2e-prometheus-');
    dirs.add(this.dir);
    this.child = null;
    this.port = 0;
    this.stderrTail = '';
  }

  get url() { return `http://127.0.0.1:${this.port}`; }
  get alive() { return this.child && !this.child.exitInfo; }

  async start(config, { readyTimeoutMs = 30_000 } = {}) {
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort();
      try {
        return await this.launch(config(this.port), readyTimeoutMs);
      } catch (e) {
        if (!/address already in use/i.test(this.stderrTail) || attempt >= 3) throw e;
      }
    }
  }

  async launch(config, readyTimeoutMs) {
    const configFile = path.join(this.dir, 'prometheus.yml');
    const tsdb = path.join(this.dir, 'tsdb');
    mkdirSync(tsdb, { recursive: true });
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    this.stderrTail = '';
    const child = spawn(this.bin, [
      `--config.file=${configFile}`, `--storage.tsdb.path=${tsdb}`,
      `--web.listen-address=127.0.0.1:${this.port}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    running.add(this);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      this.stderrTail = (this.stderrTail + d).slice(-16_384);
      if (process.env.OBSERVEX_E2E_SERVER_LOG) process.stderr.write(d);
    });
    child.exitInfo = null;
    child.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        child.exitInfo = { code, signal };
        running.delete(this);
        resolve(child.exitInfo);
      });
    });
    child.on('error', (e) => { child.spawnError = e; });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child.exitInfo || child.spawnError) {
        throw new Error(`prometheus ${child.spawnError?.message ?? `exited with ${JSON.stringify(child.exitInfo)}`} ` +
                        `before it was ready.\nstderr (tail):\n${this.stderrTail}`);
      }
      try {
        const r = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.status === 200) return this;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`prometheus was not ready within ${readyTimeoutMs} ms.\nstderr (tail):\n${this.stderrTail}`);
      }
      await sleep(100);
    }
  }

  async stop({ timeoutMs = 20_000 } = {}) {
    const child = this.child;
    if (!child || child.exitInfo) return child?.exitInfo ?? null;
    child.kill('SIGTERM');
    let timer;
    const res = await Promise.race([
      child.exited,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (res) return res;
    child.kill('SIGKILL');
    return child.exited;
  }

  async dispose() {
    try {
      await this.stop();
    } finally {
      removeDir(this.dir);
      dirs.delete(this.dir);
    }
  }
}

// GET <base><path>?<params> of a Prometheus-API server. `params` is an object whose
// values may be arrays (match[]). Returns {status, body} with the body parsed as JSON
// when it is JSON.
export async function promApi(base, apiPath, params = {}, { key, headers = {} } = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) qs.append(k, String(one));
  }
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  const r = await fetch(`${base}${apiPath}?${qs}`, { headers: h, signal: AbortSignal.timeout(30_000) });
  const text = await r.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON: kept as text for the message */ }
  return { status: r.status, body };
}

// The `data` of a successful answer; throws with the whole answer otherwise.
export async function promData(base, apiPath, params, opts) {
  const r = await promApi(base, apiPath, params, opts);
  if (r.status !== 200 || r.body?.status !== 'success') {
    throw new Error(`${base}${apiPath} ${JSON.stringify(params)} answered ${r.status}: ` +
                    `${JSON.stringify(r.body).slice(0, 1000)}`);
  }
  return r.body.data;
}

// ---------------------------------------------------------------- remote write 1.0

// prometheus.WriteRequest{timeseries: [{labels, samples: [{value, timestamp}]}]}.
export function writeRequest(series) {
  const req = new Pb();
  for (const s of series) {
    const ts = new Pb();
    for (const [name, value] of Object.entries(s.labels)) ts.msg(1, new Pb().string(1, name).string(2, value));
    for (const [timestampMs, value] of s.samples) ts.msg(2, new Pb().double(1, value).uint(2, timestampMs));
    req.msg(1, ts);
  }
  return req.finish();
}

function uvarint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

// Snappy block format with literals only: valid input for any decoder, no compression.
export function snappyLiteral(buf) {
  const parts = [uvarint(buf.length)];
  for (let at = 0; at < buf.length; at += 65_536) {
    const chunk = buf.subarray(at, Math.min(at + 65_536, buf.length));
    const n = chunk.length - 1;
    if (n < 60) {
      parts.push(Buffer.from([n << 2]));
    } else if (n < 256) {
      parts.push(Buffer.from([60 << 2, n]));
    } else {
      parts.push(Buffer.from([61 << 2, n & 0xff, n >> 8]));
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
