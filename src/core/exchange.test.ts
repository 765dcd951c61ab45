import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  attachExchange,
  computeExchangeLayout,
  createExchange,
  ExchangeRing,
  ExchangeSleeper,
  exchangeStopping,
  stopExchange,
  X_NF_SLEEP,
  type Exchange,
} from './exchange.js';
import { M_DATA_OFF } from './layout.js';

let seq = 0;
function fresh(slots = 8): { mgr: Exchange; nf: Exchange; file: string } {
  const file = `/dev/shm/netvm-test-exchange-${process.pid}-${++seq}`;
  fs.rmSync(file, { force: true });
  const mgr = createExchange(file, computeExchangeLayout(slots, 2048, 128));
  return { mgr, nf: attachExchange(file), file };
}

test('exchange: layout, header and a second mapping of the same file', () => {
  const { mgr, nf, file } = fresh(16);
  try {
    assert.deepEqual(nf.layout, mgr.layout);
    assert.equal(mgr.layout.arena % 4096, 0);
    assert.equal(mgr.layout.totalSize, mgr.layout.arena + 16 * 2048);
    // Slots carry a data offset like pool buffers, so Packet views bind to them unchanged.
    for (let s = 0; s < 16; s++) assert.equal(nf.i32[((nf.layout.arena + s * 2048) >> 2) + M_DATA_OFF], 128);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'owner-only, like the region');
    assert.throws(() => computeExchangeLayout(12, 2048, 128), /power of two/);
    fs.writeFileSync(`${file}.bad`, Buffer.alloc(8192));
    assert.throws(() => attachExchange(`${file}.bad`), /not a netvm exchange area/);
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.bad`, { force: true });
  }
});

test('exchange ring: in order across wrap-around, bounded by its capacity', () => {
  const { mgr, nf, file } = fresh(8);
  try {
    const prod = new ExchangeRing(mgr, mgr.layout.toNf);
    const cons = new ExchangeRing(nf, nf.layout.toNf);
    const src = Int32Array.from({ length: 12 }, (_, i) => i);
    const dst = new Int32Array(12);
    let next = 0;
    let want = 0;
    for (let round = 0; round < 50; round++) {
      const put = prod.enqueue(
        src.map((_, i) => (next + i) % 1000),
        0,
        5,
      );
      next += put;
      const got = cons.dequeue(dst, 0, 3);
      for (let k = 0; k < got; k++) assert.equal(dst[k], want++ % 1000);
    }
    const room = 8 - cons.count();
    assert.equal(prod.enqueue(src, 0, 12), room, 'never more than the capacity');
    assert.equal(cons.count(), 8);
    assert.equal(prod.badIndex + cons.badIndex, 0);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('exchange ring: a forged peer index is counted and treated as empty/full, never trusted', () => {
  const { mgr, nf, file } = fresh(8);
  try {
    // The NF produces results for the manager; it then forges its producer index.
    const nfProd = new ExchangeRing(nf, nf.layout.fromNf);
    const mgrCons = new ExchangeRing(mgr, mgr.layout.fromNf);
    const dst = new Int32Array(64);
    assert.equal(nfProd.enqueue(Int32Array.of(3, 4), 0, 2), 2);
    assert.equal(mgrCons.dequeue(dst, 0, 64), 2);
    const prodWord = nf.layout.fromNf >> 2; // the ring's producer index (first word)
    for (const forged of [2 + 1_000_000, 2 - 1, -2147483648, 2 + 9]) {
      nf.i32[prodWord] = forged;
      assert.equal(mgrCons.count(), 0);
      assert.equal(mgrCons.dequeue(dst, 0, 64), 0, `forged producer index ${forged}: nothing taken`);
    }
    assert.equal(mgrCons.badIndex, 4);
    // The manager's own index was never read back: a sane index works again.
    nf.i32[prodWord] = 2 + 8;
    assert.equal(mgrCons.dequeue(dst, 0, 64), 8, 'a full ring of (garbage) entries; the caller checks them');
    // The manager produces for the NF; the NF forges its consumer index.
    const mgrProd = new ExchangeRing(mgr, mgr.layout.toNf);
    const consWord = (nf.layout.toNf >> 2) + 16;
    nf.i32[consWord] = 1_000_000;
    assert.equal(mgrProd.enqueue(Int32Array.of(1, 2, 3), 0, 3), 0);
    assert.equal(mgrProd.badIndex, 1);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('exchange: stop flag and sleep word', () => {
  const { mgr, nf, file } = fresh(8);
  try {
    const nfSleeper = new ExchangeSleeper(nf);
    const mgrWaker = new ExchangeSleeper(mgr);
    assert.equal(mgrWaker.wake(), false, 'nobody asleep');
    assert.equal(
      nfSleeper.sleep(() => true, 1000),
      false,
      'work seen after announcing sleep: no wait',
    );
    assert.equal(nf.i32[X_NF_SLEEP], 0);
    assert.equal(
      nfSleeper.sleep(() => false, 5),
      true,
      'times out',
    );
    nf.i32[X_NF_SLEEP] = 1; // as a sleeper would leave it while waiting
    assert.equal(mgrWaker.wake(), true);
    assert.equal(nf.i32[X_NF_SLEEP], 0);
    assert.equal(exchangeStopping(nf), false);
    stopExchange(mgr);
    assert.equal(exchangeStopping(nf), true);
  } finally {
    fs.rmSync(file, { force: true });
  }
});
