import { type ParseArgsConfig, parseArgs } from "node:util";

// What the command-line tools share: their arguments checked with errors that name the flag,
// `--help`, and one way to end: status 2 with the usage for bad arguments, 1 for any other error.

/** A bad argument: the command prints its usage and exits with status 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * The flags of `argv` (no positionals, unknown flags refused); `options` must declare `help`, and
 * `--help` prints `usage` and exits.
 */
export function parseFlags<O extends Options & { help: { type: "boolean" } }>(
  argv: string[],
  options: O,
  usage: string,
) {
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

export function isoTime(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time, got '${value}'`);
  return t;
}

/** Runs the command; an error ends it with its message (and the usage, status 2, for a bad argument). */
export function runCommand(name: string, usage: string, main: () => Promise<void>): void {
  main().catch((err) => {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`\n${usage}\n`);
      process.exit(2);
    }
    process.exit(1);
  });
}
