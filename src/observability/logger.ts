import pino from "pino";

export type Logger = pino.Logger;

/** Logs JSON lines to stdout, or to stderr (`fd` 2) for a command whose stdout is its answer. */
export function createLogger(level: string, fd: 1 | 2 = 1): Logger {
  return pino({ level, base: { service: "brewgate" } }, pino.destination(fd));
}
