// The JSON Schema (draft-07) of the config file: the single source of truth for its structure
// and its defaults. load-config.ts validates with it (ajv) and fills defaults from it;
// schema/netvm-config.schema.json is this object written out for editors (a test keeps the two
// identical). Regenerate the file with:
//   node --import tsx -e "import('./src/config/schema.ts').then((m) => process.stdout.write(m.schemaJson()))" > schema/netvm-config.schema.json
// Meaning-level checks (names that must exist, clashes, CIDRs, port ranges) are in load-config.ts.

/** The subset of JSON Schema draft-07 this file uses. */
export interface JsonSchema {
  $schema?: string;
  $comment?: string;
  title?: string;
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  enum?: readonly unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  minProperties?: number;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  if?: JsonSchema;
  then?: JsonSchema;
  dependencies?: Record<string, string[]>;
  definitions?: Record<string, JsonSchema>;
  $ref?: string;
}

/** The instance (region) name. */
export const NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';
/** Port, service and chain names: as NAME_PATTERN, but not all digits (ids are numbers). */
export const ENTRY_NAME_PATTERN = '^(?![0-9]+$)[A-Za-z0-9_.-]{1,64}$';

export const LIMITS = {
  ports: 16,
  services: 64,
  chains: 64,
  /** Steps per chain (the region has 16 step slots per chain, one kept as the end marker). */
  steps: 15,
  instances: 16,
} as const;

export const PORT_DRIVER_NAMES = ['generator', 'sink', 'pcap', 'afpacket', 'afxdp'] as const;

const pow2 = (from: number, to: number): number[] => {
  const out: number[] = [];
  for (let v = from; v <= to; v *= 2) out.push(v);
  return out;
};

/** Per driver: its options (the `driver` key itself excluded), in documentation order. */
export const PORT_OPTIONS: Record<
  (typeof PORT_DRIVER_NAMES)[number],
  { description: string; properties: Record<string, JsonSchema>; extra?: JsonSchema }
> = {
  generator: {
    description: 'Built-in traffic generator (input only): synthetic UDP/TCP/ICMP frames, no NIC, no root.',
    properties: {
      size: { type: 'integer', minimum: 60, maximum: 1514, default: 64, description: 'Frame length in bytes, without the 4-byte FCS.' },
      flows: {
        type: 'integer',
        minimum: 1,
        maximum: 1048576,
        default: 1,
        description: 'Number of distinct flows (5-tuples); packets cycle through them.',
      },
      ipVersion: { enum: [4, 6], default: 4, description: 'IP version of the generated packets.' },
      proto: { enum: ['udp', 'tcp', 'icmp'], default: 'udp', description: 'Transport protocol of the generated packets.' },
      rate: {
        type: 'number',
        minimum: 0,
        maximum: 1e9,
        default: 0,
        description: 'Packets per second; 0 = as fast as the chain takes them.',
      },
      count: { type: 'integer', minimum: 0, default: 0, description: 'Packets to send before the port is exhausted; 0 = endless.' },
      stamp: {
        type: 'boolean',
        default: false,
        description: 'Write a send timestamp into each packet so a sink port can report latency.',
      },
    },
  },
  sink: {
    description: 'Counts and frees every packet it is given (output only).',
    properties: {
      latency: {
        type: 'boolean',
        default: true,
        description: 'Report latency for packets that carry a generator timestamp (generator stamp: true).',
      },
      rate: {
        type: 'number',
        minimum: 0,
        maximum: 1e9,
        default: 0,
        description: 'Packets per second it takes at most, like a slower link; the rest wait (transmit backpressure). 0 = all it is given.',
      },
    },
  },
  pcap: {
    description: 'Reads packets from a pcap/pcapng file (input) and/or writes them to one (output).',
    properties: {
      read: {
        type: 'string',
        minLength: 1,
        description: "File to read packets from (pcap or pcapng); relative to the config file's directory.",
      },
      write: { type: 'string', minLength: 1, description: "File to write packets to; relative to the config file's directory." },
      repeat: {
        type: 'integer',
        minimum: 0,
        maximum: 2147483647,
        default: 1,
        description: 'Times to replay the read file; 0 = forever. Needs read.',
      },
      rate: {
        type: 'number',
        minimum: 0,
        maximum: 1e9,
        default: 0,
        description: 'Replay rate in packets per second; 0 = as fast as possible. Needs read.',
      },
      format: { enum: ['pcap', 'pcapng'], default: 'pcap', description: 'Format of the written file. Needs write.' },
      precision: { enum: ['us', 'ns'], default: 'us', description: 'Timestamp precision of the written file (pcap format). Needs write.' },
      snaplen: {
        type: 'integer',
        minimum: 1,
        maximum: 262144,
        default: 65535,
        description: 'Longest packet written in full; longer ones are truncated in the file.',
      },
    },
    extra: {
      anyOf: [{ required: ['read'] }, { required: ['write'] }],
      dependencies: { repeat: ['read'], rate: ['read'], format: ['write'], precision: ['write'] },
    },
  },
  afpacket: {
    description: 'A Linux network interface through an AF_PACKET socket (input and output; needs CAP_NET_RAW).',
    properties: {
      interface: { type: 'string', minLength: 1, maxLength: 15, description: 'Interface name, e.g. eth1.' },
      promiscuous: { type: 'boolean', default: true, description: 'Put the interface in promiscuous mode.' },
      fanout: {
        type: 'object',
        additionalProperties: false,
        required: ['group'],
        description: 'Join a PACKET_FANOUT group (several sockets share the interface); omit for none.',
        properties: {
          group: { type: 'integer', minimum: 0, maximum: 65535, description: 'Fanout group id.' },
          mode: {
            enum: ['hash', 'lb', 'cpu', 'rollover', 'random', 'qm'],
            default: 'hash',
            description: 'How packets are spread over the group.',
          },
        },
      },
      qdiscBypass: { type: 'boolean', default: false, description: "Transmit without the kernel's queueing discipline." },
      ringFrames: {
        type: 'integer',
        minimum: 16,
        maximum: 1048576,
        default: 4096,
        description: 'Frames in the transmit ring; the receive ring holds as many bytes.',
      },
      ignoreOutgoing: {
        type: 'boolean',
        default: true,
        description: 'Do not receive packets leaving the interface (PACKET_IGNORE_OUTGOING), so the port never sees its own transmissions.',
      },
      txThread: {
        type: 'boolean',
        default: true,
        description:
          "Make the transmit system calls on a thread of the port's own, so the kernel's sending work runs beside the manager's loop; false: the manager sends.",
      },
    },
    extra: { required: ['interface'] },
  },
  afxdp: {
    description:
      'A Linux network interface through an AF_XDP socket whose UMEM is the packet pool: no copy in netvm (input and output; needs root: CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF).',
    properties: {
      interface: { type: 'string', minLength: 1, maxLength: 15, description: 'Interface name, e.g. eth1.' },
      queue: {
        type: 'integer',
        minimum: 0,
        maximum: 1023,
        default: 0,
        description: "The interface's receive queue to bind (frames on other queues go to the kernel's stack).",
      },
      ringSize: {
        type: 'integer',
        minimum: 64,
        maximum: 65536,
        default: 2048,
        description: 'Entries in each AF_XDP ring (a power of two); the port keeps 2 x ringSize pool buffers.',
      },
      mode: {
        enum: ['auto', 'native', 'generic'],
        default: 'auto',
        description:
          "Where the XDP program runs: the driver's own hook (native), the generic one after the skb is built, or native when the driver has it (auto).",
      },
      promiscuous: { type: 'boolean', default: true, description: 'Put the interface in promiscuous mode.' },
    },
    extra: { required: ['interface'] },
  },
};

/** A CPU list: [0, 2] or "0,2-3" (the kernel's cpulist format, as `taskset -c` takes). */
function cpusSchema(description: string): JsonSchema {
  return {
    description,
    anyOf: [
      { type: 'array', minItems: 1, maxItems: 1024, items: { type: 'integer', minimum: 0, maximum: 1023 } },
      // The string's syntax is checked when it is read (load-config.ts), with a better message.
      { type: 'string', minLength: 1 },
    ],
  };
}

function portSchema(): JsonSchema {
  return {
    type: 'object',
    description: 'A port: where packets enter or leave netvm. `driver` picks the kind; the other keys depend on it.',
    required: ['driver'],
    properties: { driver: { enum: [...PORT_DRIVER_NAMES], description: 'Port driver.' } },
    allOf: PORT_DRIVER_NAMES.map((d) => ({
      if: { type: 'object', required: ['driver'], properties: { driver: { const: d } } },
      then: {
        type: 'object',
        description: PORT_OPTIONS[d].description,
        additionalProperties: false,
        properties: { driver: { const: d }, ...PORT_OPTIONS[d].properties },
        ...PORT_OPTIONS[d].extra,
      },
    })),
  };
}

const portSpec = (what: string): JsonSchema => ({
  description: `${what} port: a number, or a range "lo-hi" (inclusive).`,
  anyOf: [
    { type: 'integer', minimum: 0, maximum: 65535 },
    { type: 'string', pattern: '^[0-9]{1,5}(-[0-9]{1,5})?$', description: 'a range "lo-hi"' },
  ],
});

const prefixSpec = (what: string): JsonSchema => ({
  type: 'string',
  minLength: 1,
  description: `${what} address: a CIDR prefix ("10.0.0.0/8", "2001:db8::/32") or a single address.`,
});

export const IP_PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, gre: 47, esp: 50 };

function buildSchema(): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'netvm configuration',
    description: 'Ports, services (NFs), chains and flow rules of one netvm instance. Reference: docs/configuration.md.',
    type: 'object',
    additionalProperties: false,
    required: ['ports'],
    properties: {
      $schema: { type: 'string', description: 'Path or URL of this schema (for editors); ignored by netvm.' },
      name: {
        type: 'string',
        pattern: NAME_PATTERN,
        default: 'netvm',
        description: 'Instance name: names the shared region and the control socket.',
      },
      cpus: cpusSchema(
        'CPUs the manager runs on, with its afpacket transmit threads and the NF processes it launches (unless a service sets its own): an array of CPU numbers or a list like "1" or "0,2-3". Omit to let the kernel place them.',
      ),
      region: {
        type: 'object',
        description: 'Sizes of the shared packet region.',
        additionalProperties: false,
        properties: {
          bufSize: {
            type: 'integer',
            enum: pow2(1024, 65536),
            default: 2048,
            description: 'Bytes per packet buffer (metadata + headroom + data), a power of two.',
          },
          bufCount: {
            type: 'integer',
            minimum: 1024,
            maximum: 16777216,
            default: 65536,
            description: 'Number of packet buffers in the pool.',
          },
          ringSize: {
            type: 'integer',
            enum: pow2(64, 65536),
            default: 4096,
            description: 'Capacity of each NF receive ring and port transmit ring, a power of two.',
          },
          flowEntries: {
            type: 'integer',
            enum: pow2(1024, 16777216),
            default: 65536,
            description: 'Entries in the flow table, a power of two.',
          },
          hugePages: {
            enum: ['auto', 'always', 'never', true, false],
            default: 'auto',
            description:
              'Back the region with huge pages: auto (when available), always (fail otherwise), never. true = always, false = never.',
          },
          maxSlots: {
            type: 'integer',
            minimum: 2,
            maximum: 256,
            default: 64,
            description: 'Most NF instances that can be attached at once (plus one slot for the manager).',
          },
        },
      },
      ports: {
        type: 'object',
        description: 'Ports by name. Ids are 0, 1, 2… in declaration order.',
        propertyNames: { type: 'string', pattern: ENTRY_NAME_PATTERN },
        maxProperties: LIMITS.ports,
        additionalProperties: { $ref: '#/definitions/port' },
      },
      services: {
        type: 'object',
        description: 'Services (NFs) by name. Ids are 0, 1, 2… in declaration order. Names share one namespace with ports.',
        propertyNames: { type: 'string', pattern: ENTRY_NAME_PATTERN },
        maxProperties: LIMITS.services,
        additionalProperties: { $ref: '#/definitions/service' },
      },
      chains: {
        type: 'object',
        description: 'Service chains by name: lists of steps (a service name, a port name, or drop). `default` takes unmatched packets.',
        propertyNames: { type: 'string', pattern: ENTRY_NAME_PATTERN },
        maxProperties: LIMITS.chains,
        additionalProperties: {
          type: 'array',
          minItems: 1,
          maxItems: LIMITS.steps,
          items: { type: 'string', minLength: 1, description: 'A service name, a port name, or drop.' },
        },
      },
      rules: {
        type: 'array',
        description: 'Flow rules, tried in order for the first packet of each flow: the first match picks the chain.',
        items: { $ref: '#/definitions/rule' },
      },
    },
    definitions: {
      port: portSchema(),
      service: {
        type: 'object',
        description: 'A service: one NF, run as one or more instances (processes).',
        additionalProperties: false,
        required: ['nf'],
        properties: {
          nf: {
            type: 'string',
            minLength: 1,
            description: "A catalog NF name (forward, monitor, …) or a path to a .ts/.js module, relative to the config file's directory.",
          },
          instances: {
            type: 'integer',
            minimum: 1,
            maximum: LIMITS.instances,
            default: 1,
            description: 'Processes to start; flows are spread over them by hash.',
          },
          mode: {
            enum: ['shared', 'poll'],
            default: 'shared',
            description: 'shared: sleep when the ring is empty (the default); poll: spin on a dedicated core.',
          },
          args: { type: 'object', default: {}, description: "Arguments for the NF, checked by the NF's own schema." },
          cpus: cpusSchema(
            'CPUs this service\'s NF processes run on (an array of CPU numbers or a list like "0" or "2-3"); default: the manager\'s.',
          ),
          restart: {
            enum: ['never', 'on-failure'],
            default: 'never',
            description:
              'on-failure: the manager restarts an instance it launched that crashed or exited with a non-zero status (with backoff); never: it stays gone.',
          },
          restartDelayMs: {
            type: 'integer',
            minimum: 10,
            maximum: 60000,
            default: 200,
            description:
              'Delay before the first restart; it doubles with each consecutive failure up to 30 s and is reset once an instance has run for 30 s.',
          },
          trust: {
            enum: ['trusted', 'untrusted'],
            default: 'trusted',
            description:
              'trusted: the NF maps the shared region (zero copy); untrusted: it never does, and gets copies of its packets that the manager checks (docs/untrusted-nfs.md).',
          },
          timeoutMs: {
            type: 'integer',
            minimum: 1,
            maximum: 60000,
            default: 1000,
            description: 'Untrusted NFs: longest time an instance may keep a packet before it is dropped and counted.',
          },
          exchangeSlots: {
            enum: [64, 128, 256, 512, 1024, 2048, 4096],
            default: 256,
            description: 'Untrusted NFs: packets an instance may hold at once (the slots of its exchange area).',
          },
        },
      },
      rule: {
        type: 'object',
        description: 'A flow rule: packets matching every key of `match` go to `chain`.',
        additionalProperties: false,
        required: ['match', 'chain'],
        properties: {
          match: {
            type: 'object',
            description: 'What to match; every key given must match. At least one key.',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              inPort: { type: 'string', minLength: 1, description: 'Name of the port the packet came in on.' },
              ipVersion: { enum: [4, 6], description: 'IP version.' },
              src: prefixSpec('Source'),
              dst: prefixSpec('Destination'),
              proto: {
                description: 'IP protocol: a name or a number 0..255.',
                anyOf: [{ enum: Object.keys(IP_PROTOCOLS) }, { type: 'integer', minimum: 0, maximum: 255 }],
              },
              srcPort: portSpec('Source'),
              dstPort: portSpec('Destination'),
            },
          },
          chain: { type: 'string', minLength: 1, description: 'Name of the chain for matching flows.' },
        },
      },
    },
  };
}

/** The config schema (JSON Schema draft-07). Treat as read-only. */
export const CONFIG_SCHEMA: JsonSchema = buildSchema();

/** The schema as written to schema/netvm-config.schema.json. */
export function schemaJson(): string {
  return JSON.stringify(CONFIG_SCHEMA, null, 2) + '\n';
}
