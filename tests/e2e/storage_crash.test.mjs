// kill -9 at random moments of ingest, head seals and part merges loses no acknowledged span
// and duplicates none in storage (issue 3, "Crash"). Heads are sealed after a second (or a
// MiB) and merged as soon as a day has more than two parts, so parts are written, merged and
// their inputs deleted all through the run. Loaders send OTLP requests of several spans
// that share one fresh trace id per request, over HTTP/protobuf, HTTP/JSON and gRPC, for two
// tenants, and remember which were acknowledged. The server is SIGKILLed at least 20 times
// (at random moments, while a part directory is being written, as a merge's inputs are
// deleted) and restarted on the same data dir; after every restart each trace acknowledged
// so far, in any earlier life, must come back from `GET /api/v1/traces/{id}` with exactly
// its spans, each once. Requests without an answer may be stored or not, but only whole;
// requests refused with 429/503 must not be stored. Nothing may be reported corrupt by the
// server's log, /metrics, `wal verify` or `storage inspect`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { closeConnection, mulberry32, seedFor, sendExport, senderConnection } from './lib/crash.mjs';
import { traceRequest, traceRequestJson } from './lib/otlp.mjs';
import { createKey, metricValue, runCli, startServer, stopAll } from './lib/server.mjs';
import { fetchTrace, spanIdCounts } from './lib/traces.mjs';

const KILLS = Number(process.env.OBSERVEX_E2E_KILLS ?? 22);
// Two tenants share the WAL, whose checkpoint waits for the slower of their heads.
const TENANTS = ['storage-crash-a', 'storage-crash-b'];
const SENDERS = [
  { kind: 'proto', tenant: 0 }, { kind: 'json', tenant: 0 }, { kind: 'grpc', tenant: 0 }, { kind: 'proto', tenant: 1 },
];
// Spans per request (one trace per request) and bytes of filler per span. Trace look-ups
// cost in proportion to the bytes of the parts they read, and every acknowledged trace is
// looked up after every restart, so requests are paced to keep that in the thousands.
const MIN_SPANS = 3;
const MAX_SPANS = 12;
const FILLER_BYTES = Number(process.env.OBSERVEX_E2E_FILLER_BYTES ?? 32);
const PACE_MS = Number(process.env.OBSERVEX_E2E_PACE_MS ?? 60);
const VERIFY_CONCURRENCY = 4;
const progress = (msg) => { if (process.env.OBSERVEX_E2E_VERBOSE) process.stderr.write(`${msg}\n`); };
const FLAGS = {
  'storage-seal-after': '1s',
  'storage-head-bytes': '1MiB',
  'storage-max-parts-per-day': '2',
  'storage-merge-bytes-per-second': '0',
  'memory-budget': '256MiB',
};

let server;
after(async () => {
  await server?.dispose();
  await stopAll();
});

// The part directories under storage/<tenant>/<table>/<day>/: those being written right
// now (".tmp-<name>" until renamed into place), the most finished parts in one day, and all.
function scanParts(dataDir) {
  const temp = [];
  let maxPerDay = 0;
  let total = 0;
  const root = path.join(dataDir, 'storage');
  const ls = (d) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  for (const tenant of ls(root)) {
    if (!/^\d+$/.test(tenant)) continue;
    for (const table of ls(path.join(root, tenant))) {
      for (const day of ls(path.join(root, tenant, table))) {
        let parts = 0;
        for (const p of ls(path.join(root, tenant, table, day))) {
          if (p.startsWith('.tmp-')) temp.push(path.join(tenant, table, day, p));
          else if (p.startsWith('p-')) parts++;
        }
        maxPerDay = Math.max(maxPerDay, parts);
        total += parts;
      }
    }
  }
  return { temp, maxPerDay, total };
}

// Server log lines at warn or error level, and any line that speaks of damage.
function suspiciousLines(log) {
  return log.split('\n').filter((l) => /^\S+ (warn|warning|error|critical) /.test(l) ||
    (/corrupt|quarantin|checksum|cannot be stored|duplicate/i.test(l) && !/\b0 corrupt range/.test(l)));
}

test(`every acknowledged span is stored exactly once across ${KILLS} SIGKILLs during ingest, seals and merges`,
  { timeout: 330_000 }, async (t) => {
    const seed = seedFor(t);
    progress(`seed ${seed}`);
    const rand = mulberry32(seed);
    const started = Date.now();

    server = await startServer({ flags: FLAGS, keepLog: true });
    let upSince = Date.now(); // merge rounds come 5 s after a start and every 5 s
    const keys = [];
    for (const tenant of TENANTS) keys.push(await createKey(server.dataDir, tenant));

    // trace id (hex) -> {tenant, spanIds, sender, life, state: 'pending'|'acked'|'refused'|'unknown'}
    const requests = new Map();
    const stats = { requests: 0, acked: 0, refused: 0, unknown: 0, statuses: {} };
    let life = 1;
    const ackedInLife = [0, 0];
    let stopping = false;
    // Loaders wait while acknowledged traces are checked, so each life's load is its own.
    let paused = false;

    function buildRequest(sender, seq) {
      const traceId = randomBytes(16);
      const n = MIN_SPANS + Math.floor(Math.random() * (MAX_SPANS - MIN_SPANS + 1));
      const spans = [];
      for (let i = 0; i < n; i++) {
        spans.push({
          name: `crash-${sender.index}-${seq}-${i}`,
          traceId,
          spanId: randomBytes(8),
          parentSpanId: i === 0 ? undefined : spans[0].spanId,
          kind: i === 0 ? 2 : 3,
          attributes: {
            'crash.sender': sender.index, 'crash.seq': seq, 'crash.i': i,
            'crash.filler': randomBytes(FILLER_BYTES / 2).toString('hex'),
          },
        });
      }
      const resource = { 'service.name': 'storage-crash', 'crash.sender': sender.index };
      const body = sender.kind === 'json' ? traceRequestJson({ resource, spans }) : traceRequest({ resource, spans });
      return { traceId: traceId.toString('hex'), spanIds: spans.map((s) => s.spanId.toString('hex')), body };
    }

    async function loader(index) {
      const sender = { ...SENDERS[index], index };
      const conn = senderConnection(server, sender.kind);
      for (let seq = 0; !stopping; seq++) {
        if (paused) {
          await sleep(10);
          continue;
        }
        const req = buildRequest(sender, seq);
        const rec = { tenant: sender.tenant, spanIds: req.spanIds, sender: `${index}/${sender.kind}`, life, state: 'pending' };
        requests.set(req.traceId, rec);
        stats.requests++;
        // 'ack' | 'refused' (answered 429/503: not stored) | 'unknown' (no answer)
        const outcome = await sendExport({
          server, conn, kind: sender.kind, signal: 'traces', key: keys[sender.tenant], body: req.body, stats,
        });
        if (outcome === 'ack') {
          rec.state = 'acked';
          stats.acked++;
          if (rec.life === life) ackedInLife[life]++;
          await sleep(PACE_MS);
        } else if (outcome === 'refused') {
          rec.state = 'refused';
          stats.refused++;
          await sleep(50);
        } else {
          rec.state = 'unknown';
          stats.unknown++;
          await sleep(20);
        }
      }
      closeConnection(conn);
    }

    const loaders = SENDERS.map((_, i) => loader(i));
    let loaderFailure = null;
    const watched = Promise.all(loaders).catch((e) => { loaderFailure = e; stopping = true; });

    // Exactly the request's spans, each once; null when so, else what is wrong.
    const agent = new http.Agent({ keepAlive: true, maxSockets: VERIFY_CONCURRENCY });
    async function checkTrace(traceId, rec) {
      const res = await fetchTrace(server.apiUrl, traceId, keys[rec.tenant], { agent });
      if (res.status === 404) return { traceId, rec, got: 0, missing: rec.spanIds, duplicated: [], extra: [] };
      if (res.status !== 200) return { traceId, rec, error: `${res.status} ${res.text.slice(0, 200)}` };
      if (res.headers['x-observex-warning']) return { traceId, rec, error: `warning: ${res.headers['x-observex-warning']}` };
      const counts = spanIdCounts(res.json);
      const want = new Set(rec.spanIds);
      const missing = rec.spanIds.filter((id) => !counts.has(id));
      const duplicated = [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id}x${n}`);
      const extra = [...counts.keys()].filter((id) => !want.has(id));
      const got = [...counts.values()].reduce((a, b) => a + b, 0);
      if (missing.length || duplicated.length || extra.length) return { traceId, rec, got, missing, duplicated, extra };
      return null;
    }
    async function checkAll(filter) {
      const todo = [...requests].filter(([, rec]) => filter(rec));
      const problems = [];
      let next = 0;
      await Promise.all(Array.from({ length: VERIFY_CONCURRENCY }, async () => {
        while (next < todo.length) {
          const [traceId, rec] = todo[next++];
          const p = await checkTrace(traceId, rec);
          if (p) problems.push(p);
        }
      }));
      return { checked: todo.length, problems };
    }
    const describe = (p) => {
      const who = `trace ${p.traceId} of ${TENANTS[p.rec.tenant]} (${p.rec.state} in life ${p.rec.life}, sender ${p.rec.sender})`;
      if (p.error) return `${who}: ${p.error}`;
      return `${who}: sent ${p.rec.spanIds.length} spans, answered ${p.got}; missing [${p.missing.join(' ')}] ` +
        `duplicated [${p.duplicated.join(' ')}] not sent [${p.extra.join(' ')}]`;
    };

    async function failWith(where, problems) {
      // Ask again: a problem that goes away was a scan racing a seal or a merge, not a loss.
      const again = [];
      for (const p of problems.slice(0, 5)) again.push(await checkTrace(p.traceId, p.rec));
      process.env.OBSERVEX_E2E_KEEP = '1'; // keep the data dir for a post-mortem
      const byLife = {};
      for (const p of problems) byLife[p.rec.life] = (byLife[p.rec.life] ?? 0) + 1;
      assert.fail(`${where}: ${problems.length} acknowledged traces are not stored exactly once (seed ${seed}; ` +
        `data dir ${server.dataDir} kept; problems by life acknowledged: ${JSON.stringify(byLife)}):\n  ` +
        `${problems.slice(0, 20).map(describe).join('\n  ')}\n` +
        `asked again:\n  ${again.map((p) => (p ? describe(p) : 'now correct')).join('\n  ')}\n` +
        `lives: ${JSON.stringify(perLife)}\n` +
        `server log of the last three starts:\n${server.log.split('=== start ').slice(-3).join('=== start ').slice(-12000)}`);
    }

    // Kill schedule, in cycles of six lives: three short ones (killed at a random moment or
    // while a seal writes its part) that end before the first merge round (5 s after the
    // start), so parts pile up past what one merge takes (8); one killed while a part is
    // written around a merge round; one killed as soon as a merge's inputs start to be
    // deleted (a day's part count drops); one killed at a random moment up to 8 s.
    const perLife = [];
    let lastMetrics = null;
    let polling = false;
    const poller = setInterval(async () => {
      if (!server.alive || polling) return;
      polling = true;
      try {
        lastMetrics = await server.metrics();
      } catch { /* the server is being killed */ }
      polling = false;
    }, 300);
    let killedMidWrite = 0;
    let mergeInputsRemoved = 0;
    let maxPartsPerDay = 0;
    let totalParts = 0;
    let verifyMs = 0;
    try {
      for (let k = 1; k <= KILLS && !loaderFailure; k++) {
        const lifeStart = Date.now();
        while (ackedInLife[life] === 0 && !loaderFailure) {
          assert.ok(Date.now() - lifeStart < 20_000, `no request acknowledged within 20 s in life ${life}`);
          await sleep(5);
        }
        const slot = (k - 1) % 6;
        const mode = slot < 3 ? (rand() < 0.5 ? 'random' : 'seal') : ['merge', 'removal', 'random'][slot - 3];
        const scanNow = () => {
          const scan = scanParts(server.dataDir);
          maxPartsPerDay = Math.max(maxPartsPerDay, scan.maxPerDay);
          const dropped = scan.total < totalParts;
          totalParts = scan.total;
          return { writing: scan.temp.length > 0, dropped };
        };
        scanNow();
        if (mode === 'random') {
          // Short lives end before the first merge round of this start where they can.
          let until = lifeStart + 200 + rand() * (slot < 3 ? 2500 : 8000);
          if (slot < 3) until = Math.max(lifeStart + 200, Math.min(until, upSince + 4600));
          while (Date.now() < until) {
            scanNow();
            await sleep(20);
          }
        } else if (mode === 'removal') {
          const t0 = Date.now();
          while (Date.now() - t0 < 11_000 && !scanNow().dropped) await sleep(1);
        } else {
          let from = lifeStart + 300 + rand() * 1500;
          if (mode === 'merge') {
            from = upSince + 4800;
            while (from < lifeStart + 200) from += 5000;
          }
          while (Date.now() < from) await sleep(10);
          const t0 = Date.now();
          while (Date.now() - t0 < 3000 && !scanNow().writing) await sleep(1);
        }
        assert.ok(server.alive, `the server died by itself in life ${life}:\n${server.stderrTail}`);
        const seen = lastMetrics;
        const killed = await server.kill();
        assert.equal(killed.signal, 'SIGKILL');
        const { temp } = scanParts(server.dataDir);
        if (temp.length) killedMidWrite++;
        const lifeInfo = {
          life, mode, ms: Date.now() - lifeStart, acked: ackedInLife[life], tmp: temp.length,
          seals: metricValue(seen ?? [], 'observex_storage_parts_written_total', { kind: 'seal' }) ?? 0,
          merges: metricValue(seen ?? [], 'observex_storage_parts_written_total', { kind: 'merge' }) ?? 0,
        };
        perLife.push(lifeInfo);
        lastMetrics = null;
        await sleep(Math.floor(rand() * 100)); // loaders meet a closed port for a moment
        life++;
        ackedInLife.push(0);
        await server.restart({ readyTimeoutMs: 60_000 });
        upSince = Date.now();
        totalParts = scanParts(server.dataDir).total;
        const startLog = server.log.slice(server.log.lastIndexOf(`=== start ${server.starts} ===`));
        const removed = (startLog.match(/a merged part holds its rows/g) ?? []).length;
        mergeInputsRemoved += removed;
        lifeInfo.inputsRemoved = removed;
        const recovered = /(\d+) corrupt ranges \((\d+) bytes\)/.exec(startLog);
        assert.ok(recovered, `no WAL recovery line in the log of start ${server.starts}:\n${startLog.slice(0, 3000)}`);
        assert.equal(Number(recovered[1]), 0, `start ${server.starts}: WAL recovery after SIGKILL reported corrupt ranges:\n${startLog}`);

        // Everything acknowledged in any earlier life, the loaders waiting meanwhile.
        paused = true;
        const v0 = Date.now();
        const { checked, problems } = await checkAll((rec) => rec.state === 'acked' && rec.life < life);
        lifeInfo.verified = checked;
        lifeInfo.verifyMs = Date.now() - v0;
        verifyMs += lifeInfo.verifyMs;
        progress(`kill ${k}: ${JSON.stringify(lifeInfo)} max parts/day ${maxPartsPerDay}`);
        if (problems.length) await failWith(`after restart ${k}`, problems);
        const m = await server.metrics();
        assert.equal(metricValue(m, 'observex_storage_quarantined_parts_total') ?? 0, 0, `start ${server.starts}: quarantined parts`);
        assert.equal(metricValue(m, 'observex_storage_writer_bad_records_total') ?? 0, 0, `start ${server.starts}: bad WAL records`);
        paused = false;
      }
      await sleep(500);
    } finally {
      clearInterval(poller);
      stopping = true;
      await watched;
    }
    if (loaderFailure) throw loaderFailure;

    const stop = await server.stop();
    assert.deepEqual(stop, { code: 0, signal: null }, `clean stop after the kills:\n${server.stderrTail}`);
    const verify = await runCli(['wal', 'verify', '--data-dir', server.dataDir]);
    assert.equal(verify.code, 0, `wal verify after the clean stop:\n${verify.stdout}${verify.stderr}`);
    assert.match(verify.stdout, /result: OK/);

    // One more start after the clean stop: everything from parts, every request accounted for.
    await server.restart();
    const acked = await checkAll((rec) => rec.state === 'acked');
    if (acked.problems.length) await failWith('after the final clean restart', acked.problems);
    const unanswered = await checkAll((rec) => rec.state === 'unknown' || rec.state === 'pending');
    const partial = unanswered.problems.filter((p) => p.error || p.got !== 0);
    assert.deepEqual(partial.map(describe), [], 'a request without an answer must be stored whole or not at all');
    // A refused request is absent: its check reports every span missing.
    const refused = await checkAll((rec) => rec.state === 'refused');
    const storedRefused = refused.checked - refused.problems.filter((p) => !p.error && p.got === 0).length;
    const finalStop = await server.stop();
    assert.deepEqual(finalStop, { code: 0, signal: null });

    // The parts on disk: none damaged or quarantined, merges happened, and the WAL ranges of
    // one day's parts do not overlap (a merged part spans exactly the neighbours it replaced).
    const inspect = await runCli(['storage', 'inspect', '--data-dir', server.dataDir, '--json']);
    assert.equal(inspect.code, 0, `storage inspect: ${inspect.stderr}${inspect.stdout.slice(0, 2000)}`);
    const layout = JSON.parse(inspect.stdout);
    assert.deepEqual(layout.damaged, [], 'storage inspect reports damaged parts');
    assert.deepEqual(layout.quarantined, [], 'storage inspect reports quarantined parts');
    const maxLevel = Math.max(0, ...layout.parts.map((p) => p.level));
    assert.ok(maxLevel >= 1, `no merged part on disk: ${JSON.stringify(layout.parts.map((p) => [p.part, p.level]))}`);
    const byDay = new Map();
    for (const p of layout.parts) {
      const k = `${p.tenant}/${p.table}/${p.day}`;
      if (!byDay.has(k)) byDay.set(k, []);
      byDay.get(k).push(p);
    }
    for (const [k, parts] of byDay) {
      parts.sort((a, b) => a.wal_first_lsn - b.wal_first_lsn);
      for (let i = 1; i < parts.length; i++) {
        assert.ok(parts[i].wal_first_lsn > parts[i - 1].wal_last_lsn,
          `${k}: WAL ranges of ${parts[i - 1].part} [${parts[i - 1].wal_first_lsn}, ${parts[i - 1].wal_last_lsn}] and ` +
          `${parts[i].part} [${parts[i].wal_first_lsn}, ${parts[i].wal_last_lsn}] overlap`);
      }
    }

    const lines = suspiciousLines(server.log);
    t.diagnostic(`${stats.requests} requests: ${stats.acked} acknowledged, ${stats.refused} refused, ${stats.unknown} without answer ` +
      `(${unanswered.checked - unanswered.problems.length} of those stored whole); statuses ${JSON.stringify(stats.statuses)}`);
    t.diagnostic(`${server.starts} starts; ${killedMidWrite} kills left a part directory half written; ` +
      `at most ${maxPartsPerDay} parts in one day; in the end ${layout.parts.length} parts, highest level ${maxLevel}; ` +
      `${mergeInputsRemoved} merge inputs removed at start (killed between a merge and the removal of its inputs)`);
    t.diagnostic(`per life: ${perLife.map((l) => `#${l.life} ${l.mode} ${l.ms}ms acked ${l.acked} seals ${l.seals} ` +
      `merges ${l.merges} tmp ${l.tmp} removed ${l.inputsRemoved} verified ${l.verified} in ${l.verifyMs}ms`).join('; ')}`);
    t.diagnostic(`${Math.round((Date.now() - started) / 1000)} s in all, ${Math.round(verifyMs / 1000)} s of it checking; ` +
      `warning/error log lines: ${lines.length}`);
    if (lines.length) t.diagnostic(`server warnings:\n${lines.slice(0, 30).join('\n')}`);
    assert.ok(stats.acked >= KILLS * 5, `too little load got through: ${stats.acked} acknowledged requests`);
    assert.ok(maxPartsPerDay > 8, `parts never piled up past one merge's inputs (at most ${maxPartsPerDay} in a day)`);
    assert.equal(storedRefused, 0, `${storedRefused} of ${refused.checked} requests refused with 429/503 were stored`);
    assert.deepEqual(lines.filter((l) => !/^\S+ warn(ing)? /.test(l) || /corrupt|quarantin|checksum/i.test(l)), [],
      'the server logged errors or damage');
  });
