import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DevelopmentAuth, developmentAuth } from "../../dev/dev-auth";
import { type Gateway, startGateway } from "../../src/gateway";
import { testConfig } from "./config";

export interface LocalRunGateway {
  gw: Gateway;
  auth: DevelopmentAuth;
  /** Stops the gateway and removes the development secret's directory. */
  stop(): Promise<void>;
}

/**
 * A gateway as `npm start` runs it (scripts/start-local.ts): authentication required, HS256
 * development tokens made for `memberId`, the IDE and the playground sending theirs.
 */
export async function startLocalRunGateway(
  overrides: Record<string, string>,
  memberId: string,
): Promise<LocalRunGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), "brewgate-local-run-"));
  const auth = await developmentAuth(testConfig({ DATA_DIR: dataDir }), memberId);
  if (!auth) throw new Error("developmentAuth made no tokens");
  const gw = await startGateway(testConfig({ ...overrides, ...auth.env }), undefined, {
    ideTokens: auth.tokens,
  });
  return {
    gw,
    auth,
    async stop() {
      await gw.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
