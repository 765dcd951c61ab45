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
  | 'NETVM_MANAGER_UNREACHABLE'
  | 'NETVM_PORT_OPEN'
  | 'NETVM_PERMISSION'
  | 'NETVM_PCAP_FORMAT'
  | 'NETVM_UNKNOWN_SERVICE'
  | 'NETVM_UNKNOWN_PORT'
  | 'NETVM_LIMIT'
  | 'NETVM_USAGE';

export class NetvmError extends Error {
  readonly code: NetvmErrorCode;
  constructor(code: NetvmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetvmError';
    this.code = code;
  }
}
