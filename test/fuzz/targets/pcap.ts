// Target "pcap": the capture reader (src/ports/pcap/pcap-format.ts readPcap) on corrupted
// classic pcap and pcapng files: truncated headers, bad magic, huge snaplen and caplen, bad
// block lengths, mismatched trailing lengths, option garbage, unknown interfaces.
//
// Invariants: it either returns records or throws a NetvmError NETVM_PCAP_FORMAT whose message
// starts with the file's name — nothing else; it reads at most 2 values per file byte + 1000
// (counted through DataView and the byte array: no loop runs away); no single allocation
// exceeds 1 MiB + 4× the file and all of them together 8× + 4 MiB (a caplen of 4 GB is
// rejected, not allocated); records are views into the file's own bytes, at most
// MAX_SNAPLEN long, with timestamps in range; an uncorrupted file reads back exactly as written.
import { NetvmError } from '../../../src/core/errors.js';
import { MAX_SNAPLEN, readPcap, type PcapFile } from '../../../src/ports/pcap/pcap-format.js';
import { corruptCapture, genCapture, type Capture } from '../captures.js';
import { AllocMeter, BudgetExceeded, meteredBytes, ReadMeter, withAllocMeter, withDataViewMeter } from '../meter.js';
import { check, defineTarget } from '../registry.js';

interface State {
  meter: ReadMeter;
  maxReadsPerByte: number;
  largestAlloc: number;
  records: number;
}

/** Runs readPcap under the read and allocation meters. Returns the file or the NetvmError. */
export async function meteredRead(
  bytes: Uint8Array,
  name: string,
  allowTruncated: boolean,
  meter: ReadMeter,
): Promise<{ file: PcapFile | null; error: NetvmError | null; alloc: AllocMeter }> {
  meter.reset(2 * bytes.length + 1000, 0, bytes.length);
  const alloc = new AllocMeter((1 << 20) + 4 * bytes.length, (4 << 20) + 8 * bytes.length, `readPcap(${bytes.length} bytes)`);
  try {
    const file = await withAllocMeter(alloc, () =>
      withDataViewMeter(meter, () => readPcap(meteredBytes(bytes, meter), name, { allowTruncated })),
    );
    return { file, error: null, alloc };
  } catch (err) {
    if (err instanceof BudgetExceeded) throw err;
    check(err instanceof NetvmError, () => `readPcap threw ${(err as Error)?.name}: ${(err as Error)?.message} (not a NetvmError)`);
    return { file: null, error: err, alloc };
  }
}

/** What every successfully read file satisfies. */
export function checkFile(file: PcapFile, bytes: Uint8Array, allowTruncated: boolean, where: string): void {
  check(file.linkType === 1, `${where}: linkType ${file.linkType}`);
  check(file.precision === 'us' || file.precision === 'ns', `${where}: precision ${file.precision}`);
  check(Number.isInteger(file.snaplen) && file.snaplen >= 0, `${where}: snaplen ${file.snaplen}`);
  check(file.packets.length <= bytes.length / 12, `${where}: ${file.packets.length} records from ${bytes.length} bytes`);
  if (file.truncatedAt !== undefined) {
    check(allowTruncated, `${where}: truncatedAt set without allowTruncated`);
    check(file.truncatedAt >= 0 && file.truncatedAt < bytes.length, `${where}: truncatedAt ${file.truncatedAt}`);
  }
  const u32 = (at: number, le: boolean): number =>
    at < 0 || at + 4 > bytes.length ? -1 : new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, le);
  const either = (at: number, v: number): boolean => u32(at, true) === v || u32(at, false) === v;
  let consumed = 24;
  for (const [i, r] of file.packets.entries()) {
    const d = r.data;
    check(
      d.buffer === bytes.buffer && d.byteOffset >= bytes.byteOffset && d.byteOffset + d.length <= bytes.byteOffset + bytes.length,
      `${where}: record ${i} is not a view into the file's bytes`,
    );
    // In every record layout (pcap record header, EPB, PB, SPB) the original length is the
    // word right before the data, and (but in an SPB) the captured length the word before it.
    const at = d.byteOffset - bytes.byteOffset;
    check(either(at - 4, r.origLen), `${where}: record ${i} origLen ${r.origLen} is not the word before its data`);
    if (file.format === 'pcap') {
      check(
        either(at - 8, d.length),
        `${where}: record ${i} has ${d.length} bytes, its header says ${u32(at - 8, true)}/${u32(at - 8, false)}`,
      );
      check(at === consumed + 16, `${where}: record ${i} starts at ${at}, the previous one ended at ${consumed}`);
      consumed = at + d.length;
    }
    check(d.length <= MAX_SNAPLEN, `${where}: record ${i} has ${d.length} bytes`);
    check(Number.isInteger(r.tsNsec) && r.tsNsec >= 0 && r.tsNsec < 1e9, `${where}: record ${i} tsNsec ${r.tsNsec}`);
    check(Number.isFinite(r.tsSec), `${where}: record ${i} tsSec ${r.tsSec}`);
    check(Number.isInteger(r.origLen) && r.origLen >= 0, `${where}: record ${i} origLen ${r.origLen}`);
  }
  // A classic file is read to its end, or to where it was cut.
  if (file.format === 'pcap')
    check(
      consumed === (file.truncatedAt ?? bytes.length),
      () => `${where}: records end at ${consumed}, the file at ${file.truncatedAt ?? bytes.length}`,
    );
}

function sameRecords(c: Capture, file: PcapFile): string | null {
  if (file.packets.length !== c.records.length) return `${file.packets.length} records read, ${c.records.length} written`;
  for (const [i, w] of c.records.entries()) {
    const r = file.packets[i];
    if (r.tsSec !== w.tsSec || r.tsNsec !== w.tsNsec) return `record ${i}: time ${r.tsSec}.${r.tsNsec}, written ${w.tsSec}.${w.tsNsec}`;
    if (r.origLen !== w.origLen || Buffer.compare(r.data, w.data) !== 0) return `record ${i}: data or length differ`;
  }
  return null;
}

export default defineTarget<State>({
  name: 'pcap',
  description: 'readPcap (pcap-format.ts) on corrupted pcap/pcapng: NetvmError or valid records; bounded reads and allocation',
  ciCases: 5000,
  setup: () => ({ meter: new ReadMeter(0, 0, 0, 'readPcap'), maxReadsPerByte: 0, largestAlloc: 0, records: 0 }),
  run: async (s, rng, index) => {
    const c = genCapture(rng);
    const intact = rng.chance(0.1);
    const { bytes, applied } = intact ? { bytes: c.bytes, applied: [] as string[] } : corruptCapture(rng, c);
    const allowTruncated = rng.bool();
    const name = `/fuzz/case-${index}.${c.format}`;
    const where = `${c.format} ${intact ? 'intact' : `corrupted by ${applied.join(', ')}`} (${bytes.length} bytes)`;
    const { file, error, alloc } = await meteredRead(bytes, name, allowTruncated, s.meter);
    s.maxReadsPerByte = Math.max(s.maxReadsPerByte, s.meter.reads / Math.max(1, bytes.length));
    s.largestAlloc = Math.max(s.largestAlloc, alloc.largest);
    if (intact) {
      check(file !== null, () => `${where}: an intact file was rejected: ${error?.message}`);
      const why = sameRecords(c, file);
      check(why === null, () => `${where}: ${why}`);
    }
    if (error !== null) {
      check(error.code === 'NETVM_PCAP_FORMAT', () => `${where}: rejected with ${error.code}: ${error.message}`);
      check(error.message.startsWith(`${name}: `), () => `${where}: the error does not name the file: ${error.message}`);
      return `rejected ${c.format}`;
    }
    checkFile(file!, bytes, allowTruncated, where);
    s.records += file!.packets.length;
    return `read ${c.format}${file!.truncatedAt !== undefined ? ' (truncated)' : ''}`;
  },
  summary: (s) => [
    `${s.records} records read; most reads by one parse: ${s.maxReadsPerByte.toFixed(2)} per file byte (budget 2 + 1000/len); largest allocation ${s.largestAlloc} bytes`,
  ],
});
