// The port driver registry: config driver name → PortDriver. Adding a driver is one entry.
import { NetvmError } from '../core/errors.js';
import type { PortDriver } from './port-driver.js';
import { GeneratorPort, type GeneratorOptions } from './generator/generator-port.js';
import { PcapPort } from './pcap/pcap-port.js';
import { SinkPort } from './sink/sink-port.js';
import { AfPacketPort, type AfPacketOptions } from './afpacket/afpacket-port.js';
import { AfXdpPort, type AfXdpOptions } from './afxdp/afxdp-port.js';

export type { PortDriver, BufferAccess, PortStats } from './port-driver.js';

export function createPortDriver(driver: string, options: Record<string, unknown>): PortDriver {
  switch (driver) {
    case 'generator':
      return new GeneratorPort(options as Partial<GeneratorOptions>);
    case 'sink':
      return new SinkPort(options as ConstructorParameters<typeof SinkPort>[0]);
    case 'pcap':
      return new PcapPort(options as ConstructorParameters<typeof PcapPort>[0]);
    case 'afpacket':
      return new AfPacketPort(options as unknown as AfPacketOptions);
    case 'afxdp':
      return new AfXdpPort(options as unknown as AfXdpOptions);
    default:
      throw new NetvmError('NETVM_PORT_OPEN', `unknown port driver "${driver}"; available: generator, sink, pcap, afpacket, afxdp`);
  }
}
