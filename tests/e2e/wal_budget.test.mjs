// The WAL's cap on un-checkpointed bytes turns into 429s, never into a full disk: with a
// small cap, ingest is refused with a message naming the write-ahead log, the WAL
// directory stays near the cap, the server keeps serving, and everything acknowledged
// before the refusals is in the WAL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { metricValue, startServer, stopAll, walDump } from './lib/server.mjs';
import { postOtlp, logsRequest, errorStatus } from './lib/otlp.mjs';

after(stopAll);

const CAP = 2 * 1024 * 1024;

function dirBytes(dir) {
  let total = 0;
  for (const name of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, name));
    if (st.isFile()) total += st.blocks * 512;  // what the disk really holds (preallocation counts)
  }
  return total;
}

test('un-checkpointed WAL bytes at the cap → 429 naming the WAL, bounded disk, still serving', async () => {
  // Heads are kept from being sealed for WAL lag (a lag above the cap), so nothing moves
  // the checkpoint and the cap is reached.
  const server = await startServer({
    flags: {
      'wal-max-uncheckpointed-bytes': CAP, 'wal-segment-bytes': 512 * 1024,
      'storage-head-wal-lag-bytes': '1GiB',
    },
  });
  try {
    const key = server.firstKey;
    const acked = [];
    let refused = null;
    // ~40 KiB per request: the cap is reached after about 50 of them.
    for (let i = 0; i < 400 && !refused; i++) {
      const id = `wal-budget-${i}`;
      const records = Array.from({ length: 40 }, (_, j) => ({ body: `${id} ${'x'.repeat(900)} ${j}`, attributes: { 'req.id': id } }));
      const res = await postOtlp(server.httpUrl, '/v1/logs', { key, body: logsRequest({ records }) });
      if (res.status === 200) {
        acked.push(id);
      } else {
        refused = res;
      }
    }
    assert.ok(refused, 'the cap was never reached');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers['retry-after']) > 0, 'a 429 carries Retry-After');
    assert.match(errorStatus(refused, 'proto').message, /write-ahead log/);
    assert.ok(acked.length > 10, `only ${acked.length} requests were accepted before the cap`);

    const walBytes = dirBytes(path.join(server.dataDir, 'wal'));
    assert.ok(walBytes <= CAP + 2 * 512 * 1024 + 64 * 1024,
      `the WAL holds ${walBytes} bytes with a cap of ${CAP}`);

    // Refusals are answers: the server still serves health and metrics.
    const ready = await fetch(`${server.apiUrl}/readyz`);
    assert.equal(ready.status, 200);
    // A request of the same size is still refused: the rows are in the storage head, not
    // yet in a part (heads seal after 10 minutes or 256 MiB, and the lag bound is above the
    // cap here), so the checkpoint cannot move.
    const records = Array.from({ length: 40 }, (_, j) => ({ body: `again ${'x'.repeat(900)} ${j}` }));
    const again = await postOtlp(server.httpUrl, '/v1/logs', { key, body: logsRequest({ records }) });
    assert.equal(again.status, 429);

    // SIGKILL, not a drain: a clean stop seals the heads into parts and checkpoints the WAL,
    // and this check reads the acknowledged requests back from the WAL itself.
    await server.kill();
    const stored = new Set();
    for (const rec of await walDump(server.dataDir, { type: 'logs' })) {
      const id = rec.signal.logRecord.attributes?.find((a) => a.key === 'req.id')?.value?.stringValue;
      if (id) stored.add(id);
    }
    const lost = acked.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], 'acknowledged requests missing from the WAL');
  } finally {
    await server.dispose();
  }
});

// With the default lag bound (a quarter of the WAL's cap), a head holding the WAL back is
// written as a part and the checkpoint moves on: three times the cap of logs all get in,
// after 429s at worst, instead of every request being refused until the head ages out
// (storage_seal_after, 10 minutes).
test('with a small WAL cap, heads are sealed for WAL lag and ingest goes on past the cap', async () => {
  const cap = 4 * 1024 * 1024;
  const server = await startServer({
    flags: { 'wal-max-uncheckpointed-bytes': cap, 'wal-segment-bytes': 512 * 1024 },
  });
  try {
    const key = server.firstKey;
    const deadline = Date.now() + 60_000;
    let refusals = 0;
    // ~40 KiB per request, 300 requests: about three times the cap.
    for (let i = 0; i < 300; i++) {
      const records = Array.from({ length: 40 }, (_, j) => ({ body: `lag-${i} ${'x'.repeat(900)} ${j}` }));
      const body = logsRequest({ records });
      for (;;) {
        const res = await postOtlp(server.httpUrl, '/v1/logs', { key, body });
        if (res.status === 200) break;
        assert.equal(res.status, 429, `request ${i}: HTTP ${res.status}`);
        refusals++;
        assert.ok(Date.now() < deadline,
          `request ${i} still refused after 60 s (${refusals} refusals): the WAL cap was never freed`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const m = await server.metrics();
    assert.ok(metricValue(m, 'observex_storage_parts_written_total', { kind: 'seal' }) >= 2,
      'heads were sealed while the load went on');
  } finally {
    await server.dispose();
  }
});
