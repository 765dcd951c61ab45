// Messages on the local control socket between the manager and NF processes: one JSON
// object per line. The socket is also the liveness signal: when it closes, the NF is gone.

export interface RegisterRequest {
  type: 'register';
  service: string;
  nf: string;
  pid: number;
  mode: 'shared' | 'poll';
  /** Args given on the NF's command line; the service's config args are used otherwise. */
  args?: Record<string, unknown>;
  /** The manager's per-run secret (env NETVM_SECRET, or the owner-only file secretPath(name)). */
  secret?: string;
}

export interface RegisterReply {
  type: 'registered';
  slot: number;
  instance: number;
  region: string;
  runId: number;
  args: Record<string, unknown>;
  services: Record<string, number>;
  ports: Record<string, number>;
  batch: number;
  /**
   * How long the NF waits for room in a full ring before that ring counts as overloaded
   * (router.ts): short with live inputs, long when every input can wait (lossless).
   */
  waitMs?: number;
}

export type ManagerToNf =
  | RegisterReply
  | { type: 'error'; code: string; message: string }
  | { type: 'names'; services: Record<string, number>; ports: Record<string, number> }
  | { type: 'message'; from: string; data: unknown }
  | { type: 'stop' };

export type NfToManager =
  | RegisterRequest
  | { type: 'ready' }
  | { type: 'counters'; counters: Record<string, number> }
  | { type: 'message'; to?: string; data: unknown }
  | { type: 'log'; level: string; msg: string; fields?: Record<string, unknown> };

/** Splits a byte stream into JSON lines; calls onMessage for each parsed object. */
export function lineReader(onMessage: (msg: unknown) => void, onBad: (line: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.length === 0) continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        onBad(line);
        continue;
      }
      onMessage(msg);
    }
    if (buf.length > 1 << 20) {
      onBad(buf.slice(0, 80));
      buf = '';
    }
  };
}
