import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { DATABASE } from "../config/limits";

export interface EmbeddedDb {
  url: string;
  stop(): Promise<void>;
}

/**
 * Serves a PGlite database kept under `dataDir` on a local port, so the zero-setup run talks to it
 * through the same PostgreSQL driver as production. PGlite runs one query at a time; the socket
 * server multiplexes the pool's connections onto it.
 */
export async function startEmbeddedDb(dataDir: string, port: number): Promise<EmbeddedDb> {
  const dir = join(dataDir, "pglite");
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({
    db,
    port,
    host: "127.0.0.1",
    maxConnections: DATABASE.embeddedMaxConnections,
  });
  await server.start();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
