// Setup errors the drivers on Linux interfaces (afpacket, afxdp) share, worded alike.
import { NetvmError } from '../core/errors.js';

/** The interface named in the config is not in this network namespace. */
export function noSuchInterface(driver: string, name: string, cause: unknown): NetvmError {
  return new NetvmError(
    'NETVM_PORT_OPEN',
    `${driver}: interface "${name}" does not exist in this network namespace (\`ip -br link\` lists them); check ports.*.interface`,
    { cause },
  );
}
