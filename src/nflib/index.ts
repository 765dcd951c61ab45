// The one import an NF needs: `import { defineNF } from 'netvm'`.
export { defineNF, argError } from './define-nf.js';
export type { NFDefinition, NFContext } from './define-nf.js';
export { Packet, PacketBatch } from './packet.js';
export { ACTION_DROP, ACTION_NEXT, ACTION_TO_PORT, ACTION_TO_SERVICE } from '../core/layout.js';
export * from '../proto/index.js';
export { NetvmError } from '../core/errors.js';
export { ArgReader, type NumberRule } from './args.js';
export {
  FlowTable,
  KEY_5TUPLE,
  KEY_DST_ADDR,
  KEY_DST_PORT,
  KEY_PROTO,
  KEY_SRC_ADDR,
  KEY_SRC_PORT,
  type FlowKeyText,
} from './flow-table.js';
