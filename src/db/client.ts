import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "@prisma/client";

export type Db = PrismaClient;

/** Prisma Client over node-postgres (the Rust-free engine); `max` bounds the pool. */
export function createDb(databaseUrl: string, max = 10): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max }) });
}
