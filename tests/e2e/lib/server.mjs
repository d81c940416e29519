// Harness for the end-to-end suites: runs `observex serve` on free loopback ports with a
// temporary data dir, and wraps the operator commands (keys, wal dump/verify) the tests
// use to check what the server did. Every server started here is stopped by its test;
// stopAll() is a safety net for a test that throws before reaching its own cleanup.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const MiB = 1024 * 1024;

// The binary under test. ctest passes it as OBSERVEX_BIN; running a suite by hand needs it too.
export function observexBin() {
  const bin = process.env.OBSERVEX_BIN;
  if (!bin) {
    throw new Error(
      'OBSERVEX_BIN is not set: point it at the observex binary, e.g. ' +
        'OBSERVEX_BIN=build/src/app/observex node --test tests/e2e/<suite>.test.mjs ' +
        '(ctest sets it from the observex target)');
  }
  try {
    accessSync(bin, fsConstants.X_OK);
  } catch {
    throw new Error(`OBSERVEX_BIN=${bin} does not exist or is not executable; build the ` +
                    "'observex' target first");
  }
  return bin;
}

export function tempDir(prefix = 'observex-e2e-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir) {
  if (!dir) return;
  if (process.env.OBSERVEX_E2E_KEEP) {
    process.stderr.write(`keeping ${dir} (OBSERVEX_E2E_KEEP is set)\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}

// A port nobody listens on right now. There is a window between closing it here and the
// server binding it; start() retries on "address in use" to cover it.
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Runs an observex sub-command to completion. Output is collected in memory, so this is
// for commands with small output; walDump streams.
export function runCli(args, { timeoutMs = 60_000, env } = {}) {
  const bin = observexBin();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`observex ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

function lastNonEmptyLine(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.length ? lines[lines.length - 1] : '';
}

// `observex keys create`: the key is alone on the last line of stdout.
export async function createKey(dataDir, tenant) {
  const r = await runCli(['keys', 'create', '--tenant', tenant, '--data-dir', dataDir]);
  if (r.code !== 0) {
    throw new Error(`observex keys create --tenant ${tenant} exited ${r.code}: ${r.stderr}${r.stdout}`);
  }
  const key = lastNonEmptyLine(r.stdout);
  if (!key || /\s/.test(key)) {
    throw new Error(`observex keys create printed no key on its last line:\n${r.stdout}`);
  }
  return key;
}

// `observex keys list`: a table with columns ID TENANT PREFIX CREATED REVOKED.
export async function listKeys(dataDir) {
  const r = await runCli(['keys', 'list', '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`observex keys list exited ${r.code}: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.trim().length > 0);
  if (!lines.length || !/^\s*ID\s+TENANT\s+PREFIX\s+CREATED\s+REVOKED/.test(lines[0])) {
    throw new Error(`unexpected 'keys list' header:\n${r.stdout}`);
  }
  return {
    raw: r.stdout,
    rows: lines.slice(1).map((l) => {
      const [id, tenant, prefix, created, ...revoked] = l.trim().split(/\s+/);
      return { id, tenant, prefix: prefix.replace(/…$/, ''), created, revoked: revoked.join(' ') };
    }),
  };
}

export async function revokeKey(dataDir, id) {
  const r = await runCli(['keys', 'revoke', String(id), '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`observex keys revoke ${id} exited ${r.code}: ${r.stderr}`);
  return r;
}

// Streams `observex wal dump` and calls onRecord for each JSON line. Lines that are not
// JSON are collected as errors rather than thrown, so a test can report all of them.
export function walDumpEach(dataDir, { tenant, type } = {}, onRecord) {
  const bin = observexBin();
  const args = ['wal', 'dump', '--data-dir', dataDir];
  if (tenant) args.push('--tenant', tenant);
  if (type) args.push('--type', type);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const err = [];
    const badLines = [];
    let count = 0;
    child.stderr.on('data', (d) => err.push(d));
    const rl = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
    rl.on('line', (line) => {
      if (!line.trim()) return;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        if (badLines.length < 5) badLines.push(`${e.message}: ${line.slice(0, 200)}`);
        return;
      }
      count++;
      onRecord(rec);
    });
    child.on('error', reject);
    let exit;
    child.on('exit', (code, signal) => { exit = { code, signal }; });
    rl.on('close', () => {
      // 'close' of stdout can precede 'exit'; wait for both.
      const finish = () => resolve({ count, code: exit.code, signal: exit.signal,
                                     stderr: Buffer.concat(err).toString(), badLines });
      if (exit) finish();
      else child.on('exit', () => setImmediate(finish));
    });
  });
}

// The whole dump as an array; for the suites whose WAL is small.
export async function walDump(dataDir, filter = {}) {
  const records = [];
  const r = await walDumpEach(dataDir, filter, (rec) => records.push(rec));
  if (r.code !== 0 || r.badLines.length) {
    throw new Error(`observex wal dump exited ${r.code}${r.signal ? ` (${r.signal})` : ''}; ` +
                    `stderr: ${r.stderr.slice(0, 2000)}; unparsable lines: ${r.badLines.join(' | ')}`);
  }
  return records;
}

export function readRssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

// Prometheus text → [{name, labels, value}].
export function parsePrometheus(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// Sum of a metric's samples whose labels include `match`.
export function metricValue(samples, name, match = {}) {
  let sum = 0;
  let found = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) {
      sum += s.value;
      found = true;
    }
  }
  return found ? sum : undefined;
}

const running = new Set();
const tempRoots = new Set();

// A suite that dies (uncaught error, ctest's timeout, Ctrl-C) must not leave servers
// running on their ports or data dirs behind.
function killEverythingNow() {
  for (const s of running) {
    try { s.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  if (!process.env.OBSERVEX_E2E_KEEP) {
    for (const dir of tempRoots) rmSync(dir, { recursive: true, force: true });
  }
}
process.on('exit', killEverythingNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killEverythingNow();
    process.kill(process.pid, sig);
  });
}

// One `observex serve` process. The data dir and the ports survive kill()/restart(), so a
// restarted server recovers the same WAL at the same addresses.
// With keepLog, `log` holds the whole stderr of every start, each opened by a line
// "=== start N ===" (for suites that read the server's log after many restarts).
export class Server {
  constructor({ dataDir, tempRoot, flags, env, keepLog = false }) {
    this.dataDir = dataDir;
    this.tempRoot = tempRoot;
    this.flags = flags;
    this.env = env;
    this.keepLog = keepLog;
    this.log = '';
    this.child = null;
    this.stdout = '';
    this.stderrTail = '';
    this.firstKey = null;
    this.ports = null;
    this.starts = 0;
  }

  get pid() { return this.child?.pid; }
  get httpUrl() { return `http://127.0.0.1:${this.ports.http}`; }
  get grpcAddr() { return `127.0.0.1:${this.ports.grpc}`; }
  get apiUrl() { return `http://127.0.0.1:${this.ports.api}`; }

  args() {
    const args = ['serve', '--data-dir', this.dataDir,
                  '--otlp-http-addr', `127.0.0.1:${this.ports.http}`,
                  '--otlp-grpc-addr', `127.0.0.1:${this.ports.grpc}`,
                  '--api-addr', `127.0.0.1:${this.ports.api}`];
    for (const [k, v] of Object.entries(this.flags)) args.push(`--${k}`, String(v));
    return args;
  }

  async launch({ readyTimeoutMs = 60_000 } = {}) {
    const bin = observexBin();
    this.stdout = '';
    this.stderrTail = '';
    const child = spawn(bin, this.args(), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    this.child = child;
    this.starts++;
    if (this.keepLog) this.log += `=== start ${this.starts} ===\n`;
    running.add(this);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { this.stdout += d; });
    child.stderr.on('data', (d) => {
      this.stderrTail = (this.stderrTail + d).slice(-16_384);
      if (this.keepLog) this.log += d;
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
        const why = child.spawnError ? child.spawnError.message
                                     : `exited with code ${child.exitInfo.code} signal ${child.exitInfo.signal}`;
        const err = new Error(`observex serve ${why} before it was ready.\nstdout:\n${this.stdout}\nstderr (tail):\n${this.stderrTail}`);
        err.addressInUse = /address already in use|Address in use|Failed to add port|bind/i.test(this.stderrTail);
        throw err;
      }
      if (this.stdout.includes(' is ready.') && (await this.readyz()) === 200) break;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`observex serve was not ready within ${readyTimeoutMs} ms.\nstdout:\n${this.stdout}\nstderr (tail):\n${this.stderrTail}`);
      }
      await sleep(50);
    }
    // The banner is flushed at once, but a pipe may deliver it in pieces.
    if (this.stdout.includes("Created tenant 'default'")) {
      while (!this.keyFromBanner() && Date.now() < deadline) {
        await sleep(20);
      }
      const key = this.keyFromBanner();
      if (!key) throw new Error(`could not find the first API key in the banner:\n${this.stdout}`);
      this.firstKey = key;
    }
    return this;
  }

  // The key is alone on the last line of the "Created tenant 'default'" block.
  keyFromBanner() {
    const lines = this.stdout.split('\n');
    const at = lines.findIndex((l) => l.includes("Created tenant 'default'"));
    if (at < 0) return null;
    // The last element is an incomplete line (or '' after the final newline).
    for (const l of lines.slice(at + 1, -1)) {
      if (l.length > 0 && l === l.trim() && !/\s|=/.test(l)) return l;
    }
    return null;
  }

  async readyz() {
    try {
      const r = await fetch(`${this.apiUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      return r.status;
    } catch {
      return 0;
    }
  }

  async metrics() {
    const r = await fetch(`${this.apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${text.slice(0, 500)}`);
    return parsePrometheus(text);
  }

  rssBytes() { return readRssBytes(this.child.pid); }

  get alive() { return this.child && !this.child.exitInfo; }

  // SIGTERM, then wait for the drain. Returns {code, signal}; SIGKILLs after timeoutMs and
  // reports that as an error, because a clean stop is part of the contract.
  async stop({ timeoutMs = 30_000 } = {}) {
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
    await child.exited;
    throw new Error(`observex did not exit within ${timeoutMs} ms of SIGTERM.\nstderr (tail):\n${this.stderrTail}`);
  }

  async kill() {
    const child = this.child;
    if (!child || child.exitInfo) return child?.exitInfo ?? null;
    child.kill('SIGKILL');
    return child.exited;
  }

  async restart(opts) {
    if (this.alive) throw new Error('restart() of a running server; stop() or kill() it first');
    return this.launch(opts);
  }

  // Stops the server if it still runs and removes the data dir this harness created.
  async dispose() {
    try {
      if (this.alive) await this.stop();
    } finally {
      if (this.tempRoot) {
        removeDir(this.tempRoot);
        tempRoots.delete(this.tempRoot);
      }
    }
  }
}

// Starts a server on free ports. `flags` become --key value (keys without the dashes).
export async function startServer({ dataDir, flags = {}, env = {}, readyTimeoutMs, keepLog } = {}) {
  observexBin();
  const tempRoot = dataDir ? null : tempDir();
  if (tempRoot) tempRoots.add(tempRoot);
  const dir = dataDir ?? path.join(tempRoot, 'data');
  const server = new Server({ dataDir: dir, tempRoot, flags, env, keepLog });
  for (let attempt = 1; ; attempt++) {
    server.ports = { http: await freePort(), grpc: await freePort(), api: await freePort() };
    try {
      return await server.launch({ readyTimeoutMs });
    } catch (e) {
      if (!e.addressInUse || attempt >= 3) {
        if (tempRoot) removeDir(tempRoot);
        throw e;
      }
    }
  }
}

export async function stopAll() {
  for (const s of [...running]) {
    try {
      await s.stop({ timeoutMs: 10_000 });
    } catch {
      await s.kill();
    }
  }
}

export { MiB };
