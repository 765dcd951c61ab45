// Structured logs: pino, JSON lines on stderr (stdout is for stats and summaries).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.NETVM_LOG_LEVEL ?? 'info', name = 'netvm'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
