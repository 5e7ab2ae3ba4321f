import { PrismaPg } from "@prisma/adapter-pg";
import { defineConfig } from "prisma/config";

// Rust-free setup: the CLI talks to the database through the same driver adapter as the app.
export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  async adapter() {
    return new PrismaPg({ connectionString: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres" });
  },
});
