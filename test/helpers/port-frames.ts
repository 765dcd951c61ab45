// Frames through a port driver on a real interface, for the port tests (afpacket, afxdp):
// UDP test frames, and sending and receiving them with a fake pool's buffers.
import { buildPacket } from '../../src/proto/build.js';
import type { PortDriver } from '../../src/ports/port-driver.js';
import type { FakePool } from './fake-pool.js';

export const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** UDP 198.18.0.1:1000+i -> 198.18.0.2:7 between two test MACs, `size` bytes. */
export function udp(i: number, size = 64, extra: Partial<Parameters<typeof buildPacket>[0]> = {}): Uint8Array {
  return buildPacket({
    srcMac: '02:00:00:00:00:0a',
    dstMac: '02:00:00:00:00:0b',
    src: '198.18.0.1',
    dst: '198.18.0.2',
    proto: 'udp',
    srcPort: 1000 + i,
    dstPort: 7,
    size,
    ...extra,
  });
}

/** Transmits the frames out of `port`, one burst per `burst`. */
export async function send(port: PortDriver, pool: FakePool, frames: Uint8Array[], burst = 64): Promise<number> {
  let sent = 0;
  for (let i = 0; i < frames.length; i += burst) {
    const chunk = frames.slice(i, i + burst);
    const d = pool.alloc(chunk.length);
    chunk.forEach((f, j) => pool.put(d[j], f));
    // The kernel sends while we fill: a burst bigger than the free part of the device's queue
    // waits for it, as a sender that must not lose frames would (txBurst keeps the order:
    // what it did not take is at the front of the rest).
    let done = 0;
    for (let tries = 0; done < chunk.length && tries < 1000; tries++) {
      const k = port.txBurst(d.subarray(done), chunk.length - done, performance.now());
      done += k;
      if (done < chunk.length) await sleep(1);
    }
    sent += done;
    // After a txBurst that swaps (afxdp) these are the port's spares: ours to free all the same.
    pool.free(d);
  }
  return sent;
}

/** Everything `port` receives within `ms` (or until `want` frames came). */
export async function receive(port: PortDriver, pool: FakePool, ms: number, want = Infinity): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  const d = pool.alloc(64);
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && got.length < want) {
    const k = port.rxBurst(d, 64, performance.now());
    for (let j = 0; j < k; j++) got.push(pool.packet(d[j]));
    if (k === 0) await sleep(2);
  }
  pool.free(d);
  return got;
}
