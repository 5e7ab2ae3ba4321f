import { type Config, loadConfig } from "../../src/config";

/** A gateway configuration for tests: any free port, quiet logs, given overrides. */
export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({ PORT: "0", LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent", ...overrides });
}
