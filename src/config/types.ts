// The configuration as the rest of netvm consumes it: every name resolved to an id, every
// default filled in, every path absolute. Produced by src/config/load-config.ts; the file
// format is documented in docs/configuration.md and schema/netvm-config.schema.json.

export type HugePagesMode = 'auto' | 'always' | 'never';

export type PortDriverName = 'generator' | 'sink' | 'pcap' | 'afpacket' | 'afxdp';

export interface ResolvedPort {
  name: string;
  /** 0, 1, 2… in declaration order. */
  id: number;
  driver: PortDriverName;
  /** The driver's options (without `driver`), defaults filled in, file paths absolute. */
  options: Record<string, unknown>;
  /** The port receives packets (they enter the flow director). */
  input: boolean;
  /** The port transmits packets (chains may end in it). */
  output: boolean;
}

/** Where a service's NF code comes from: the built-in catalog or a module file. */
export type NfRef = { kind: 'catalog'; name: string; path: string } | { kind: 'module'; path: string };

export interface ResolvedService {
  name: string;
  /** 0, 1, 2… in declaration order. */
  id: number;
  nf: NfRef;
  instances: number;
  mode: 'shared' | 'poll';
  args: Record<string, unknown>;
  /** Supervision: restart crashed instances the manager launched. */
  restart: 'never' | 'on-failure';
  /** First restart delay; doubles per consecutive failure (max 30 s). */
  restartDelayMs: number;
  /** CPUs its NF processes are pinned to; null: the manager's (inherited). */
  cpus: number[] | null;
  /** Present for `trust: untrusted` (docs/untrusted-nfs.md): the NF gets copies, never the region. */
  untrusted?: { timeoutMs: number; exchangeSlots: number };
}

export type ResolvedStep =
  { kind: 'service'; service: number; name: string } | { kind: 'port'; port: number; name: string } | { kind: 'drop' };

export interface ResolvedChain {
  name: string;
  /** `default` is 0 when present; the others follow in declaration order. */
  id: number;
  steps: ResolvedStep[];
}

export interface ResolvedPrefix {
  version: 4 | 6;
  /** 4 or 16 network-order bytes, host bits cleared. */
  addr: number[];
  prefixLen: number;
}

export interface ResolvedRule {
  match: {
    inPort?: number;
    ipVersion?: 4 | 6;
    src?: ResolvedPrefix;
    dst?: ResolvedPrefix;
    proto?: number;
    srcPort?: [number, number];
    dstPort?: [number, number];
  };
  chain: number;
  chainName: string;
}

export interface ResolvedRegion {
  bufSize: number;
  bufCount: number;
  ringSize: number;
  flowEntries: number;
  hugePages: HugePagesMode;
  maxSlots: number;
}

export interface ResolvedConfig {
  name: string;
  /** Absolute path of the config file, or null for a built-in config. */
  file: string | null;
  region: ResolvedRegion;
  /** CPUs the manager (its threads, and the NFs it launches) is pinned to; null: not pinned. */
  cpus: number[] | null;
  ports: ResolvedPort[];
  services: ResolvedService[];
  /** In id order. */
  chains: ResolvedChain[];
  /** The id of the chain named `default`, or -1: packets no rule matches are dropped (and counted). */
  defaultChain: number;
  /** In file order: the first matching rule wins. */
  rules: ResolvedRule[];
  warnings: string[];
}
