// One error class for the setup and control paths, with stable codes (undici-style).
// The data path never throws: it counts.

export type NetvmErrorCode =
  | 'NETVM_NATIVE_MISSING'
  | 'NETVM_BAD_LAYOUT'
  | 'NETVM_BAD_REGION'
  | 'NETVM_LAYOUT_MISMATCH'
  | 'NETVM_REGION_EXISTS'
  | 'NETVM_REGION_MISSING'
  | 'NETVM_NO_MEMORY'
  | 'NETVM_CONFIG_INVALID'
  | 'NETVM_CONFIG_READ'
  | 'NETVM_NF_LOAD'
  | 'NETVM_NF_INVALID'
  | 'NETVM_NF_ARGS'
  | 'NETVM_REGISTER'
  | 'NETVM_AUTH'
  | 'NETVM_MANAGER_UNREACHABLE'
  | 'NETVM_PORT_OPEN'
  | 'NETVM_PERMISSION'
  | 'NETVM_PCAP_FORMAT'
  | 'NETVM_UNKNOWN_SERVICE'
  | 'NETVM_UNKNOWN_PORT'
  | 'NETVM_LIMIT'
  | 'NETVM_USAGE'
  // control plane (src/control): what an API request names does not exist, conflicts with
  // the running state, or the API itself cannot be served or reached
  | 'NETVM_UNKNOWN_INSTANCE'
  | 'NETVM_UNKNOWN_CHAIN'
  | 'NETVM_UNKNOWN_RULE'
  | 'NETVM_BAD_REQUEST'
  | 'NETVM_CONFLICT'
  | 'NETVM_NOT_READY'
  | 'NETVM_API_LISTEN'
  | 'NETVM_API';

export class NetvmError extends Error {
  readonly code: NetvmErrorCode;
  constructor(code: NetvmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetvmError';
    this.code = code;
  }
}
