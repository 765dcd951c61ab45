// Checks and setup errors the drivers on Linux interfaces (afpacket, afxdp) share, worded alike.
import { NetvmError } from '../core/errors.js';

/** The interface named in the config is not in this network namespace. */
export function noSuchInterface(driver: string, name: string, cause: unknown): NetvmError {
  return new NetvmError(
    'NETVM_PORT_OPEN',
    `${driver}: interface "${name}" does not exist in this network namespace (\`ip -br link\` lists them); check ports.*.interface`,
    { cause },
  );
}

/** The `interface` option: a name the kernel could have (IFNAMSIZ - 1 bytes, no blank or "/"). */
export function interfaceName(driver: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 15 || /[\s/]/.test(value))
    throw new NetvmError(
      'NETVM_PORT_OPEN',
      `${driver}: option "interface" must be an interface name of 1 to 15 characters, without spaces or "/" (got ${JSON.stringify(value)})`,
    );
  return value;
}
