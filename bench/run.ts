/** Runs a bench's `main`; a failure is printed with the bench's name and exits with status 1. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().catch((err) => {
    process.stderr.write(
      `${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
