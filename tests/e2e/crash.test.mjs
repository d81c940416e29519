// kill -9 at random moments loses nothing that was acknowledged (DESIGN §3 Durability).
// Concurrent senders (logs and traces, protobuf and JSON) give every record a unique id
// and remember the ids of every request answered 200. The server is SIGKILLed at least
// 20 times while they send, and restarted on the same data dir each time. After a clean
// stop, every acknowledged id must be in `observex wal dump`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { closeConnection, mulberry32, seedFor, sendExport, senderConnection } from './lib/crash.mjs';
import { attrsToObject, logsRequest, logsRequestJson, traceRequest, traceRequestJson } from './lib/otlp.mjs';
import { createKey, runCli, startServer, stopAll, walDumpEach } from './lib/server.mjs';

const KILLS = 22;
const SENDERS = [
  { kind: 'proto', signal: 'logs' },
  { kind: 'proto', signal: 'traces' },
  { kind: 'json', signal: 'logs' },
  { kind: 'json', signal: 'traces' },
  { kind: 'grpc', signal: 'traces' },
];
const RECORDS_PER_REQUEST = 20;
const TENANT = 'crash';

let server;
after(async () => {
  await server?.dispose();
  await stopAll();
});

function buildBody(sender, ids) {
  const attrsOf = (id) => ({ 'crash.id': id, 'crash.sender': sender.index });
  if (sender.signal === 'logs') {
    const records = ids.map((id) => ({ body: `crash record ${id}`, attributes: attrsOf(id) }));
    return sender.kind === 'proto' ? logsRequest({ records }) : logsRequestJson({ records });
  }
  const spans = ids.map((id) => ({ name: `crash span ${id}`, attributes: attrsOf(id) }));
  return sender.kind === 'json' ? traceRequestJson({ spans }) : traceRequest({ spans });
}

test(`no acknowledged signal is lost across ${KILLS} SIGKILLs under load`, { timeout: 240_000 }, async (t) => {
  const rand = mulberry32(seedFor(t));

  server = await startServer({ flags: { 'wal-fsync': 'true', 'memory-budget': '256MiB' } });
  const key = await createKey(server.dataDir, TENANT);

  const acked = new Set();
  const stats = { requests: 0, ok: 0, transportErrors: 0, statuses: {} };
  let epoch = 0;
  const ackedPerEpoch = [0];
  let stopping = false;

  async function sender(index) {
    const s = { ...SENDERS[index % SENDERS.length], index };
    let seq = 0;
    const conn = senderConnection(server, s.kind);
    while (!stopping) {
      const ids = [];
      for (let j = 0; j < RECORDS_PER_REQUEST; j++) ids.push(`${index}-${seq}-${j}`);
      seq++;
      const sentInEpoch = epoch;
      stats.requests++;
      const outcome = await sendExport({
        server, conn, kind: s.kind, signal: s.signal, key, body: buildBody(s, ids), stats,
      });
      if (outcome === 'ack') {
        stats.ok++;
        for (const id of ids) acked.add(id);
        if (sentInEpoch === epoch) ackedPerEpoch[epoch]++;
      } else if (outcome === 'refused') {
        await sleep(50);
      } else {
        stats.transportErrors++;
        await sleep(20);
      }
    }
    closeConnection(conn);
  }

  const senders = SENDERS.map((_, i) => sender(i));
  let senderFailure = null;
  const watched = Promise.all(senders).catch((e) => { senderFailure = e; stopping = true; });

  const recoveries = [];
  try {
    for (let k = 0; k < KILLS && !senderFailure; k++) {
      // Let the senders get at least one acknowledgement in this life of the server, then
      // kill at a random moment within the next 0.8 s.
      const waitAck = Date.now();
      while (ackedPerEpoch[epoch] === 0 && !senderFailure) {
        assert.ok(Date.now() - waitAck < 20_000, `no request acknowledged within 20 s after restart ${epoch}`);
        await sleep(5);
      }
      await sleep(Math.floor(rand() * 800));
      assert.ok(server.alive, `the server died by itself before kill ${k + 1}:\n${server.stderrTail}`);
      const res = await server.kill();
      assert.equal(res.signal, 'SIGKILL');
      await sleep(Math.floor(rand() * 100)); // senders meet a closed port for a moment
      epoch++;
      ackedPerEpoch.push(0);
      await server.restart({ readyTimeoutMs: 60_000 });
      const m = /WAL recovered[^\n]*?(\d+) corrupt ranges \((\d+) bytes\)[^\n]*?(\d+) torn-tail bytes/.exec(server.stderrTail);
      recoveries.push(m ? { corruptRanges: Number(m[1]), corruptBytes: Number(m[2]), tornTail: Number(m[3]) } : null);
    }
    // One last stretch of load on the final life, then a clean stop.
    await sleep(300);
  } finally {
    stopping = true;
    await watched;
  }
  if (senderFailure) throw senderFailure;

  const stop = await server.stop();
  assert.deepEqual(stop, { code: 0, signal: null }, `clean stop after the kills:\n${server.stderrTail}`);
  t.diagnostic(`${stats.requests} requests, ${stats.ok} acknowledged (${acked.size} ids), ` +
               `${stats.transportErrors} transport errors, statuses ${JSON.stringify(stats.statuses)}, ` +
               `${server.starts} starts`);
  assert.equal(server.starts, KILLS + 1);
  assert.ok(acked.size >= KILLS * RECORDS_PER_REQUEST, `too little load got through: ${acked.size} ids`);

  // SIGKILL leaves at most a torn tail; it never corrupts a sealed entry.
  const damaged = recoveries.map((r, i) => ({ ...r, restart: i + 1 })).filter((r) => r.corruptRanges > 0);
  assert.deepEqual(damaged, [], 'recovery after SIGKILL reported corrupt ranges');

  const verify = await runCli(['wal', 'verify', '--data-dir', server.dataDir]);
  assert.equal(verify.code, 0, `wal verify after the clean stop:\n${verify.stdout}${verify.stderr}`);

  const found = new Set();
  let duplicates = 0;
  const dump = await walDumpEach(server.dataDir, { tenant: TENANT }, (rec) => {
    assert.equal(rec.tenant, TENANT);
    const item = rec.signal.logRecord ?? rec.signal.span;
    const id = attrsToObject(item?.attributes)['crash.id'];
    if (id === undefined) return;
    if (found.has(id)) duplicates++;
    found.add(id);
  });
  assert.equal(dump.code, 0, `wal dump exited ${dump.code}: ${dump.stderr.slice(0, 2000)}`);
  assert.deepEqual(dump.badLines, []);
  const missing = [...acked].filter((id) => !found.has(id));
  t.diagnostic(`${dump.count} signals in the WAL for '${TENANT}', ${found.size} distinct ids, ` +
               `${duplicates} duplicates, ${found.size - (acked.size - missing.length)} stored but never acknowledged`);
  assert.equal(missing.length, 0,
    `${missing.length} of ${acked.size} acknowledged ids are not in the WAL, e.g. ${missing.slice(0, 10).join(', ')}`);
});
