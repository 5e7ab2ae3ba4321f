# syntax=docker/dockerfile:1
# The GraphQL gateway. Build from the repository root:
#   docker build -f docker/gateway.Dockerfile -t brewgate/gateway:0.1.0 .
# The base image is pinned to the Node.js release CI runs (20.20.2) on Debian 12.

# ---- build: the TypeScript compiled, the Prisma client generated ----
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts stay off, as on the machines this builds on: nothing here needs one, and the
# Prisma engines' script would download binaries the Rust-free client does not use.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json prisma.config.ts ./
COPY prisma ./prisma
COPY proto ./proto
COPY src ./src
COPY scripts ./scripts
COPY dev ./dev
# `prisma generate` reads DATABASE_URL from the schema; any syntactically valid URL will do.
RUN DATABASE_URL=postgresql://127.0.0.1:5432/unused npx prisma generate \
 && npx tsc -p .

# ---- runtime: production dependencies, the compiled code, migrations and the gRPC contract ----
FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
# The generated client is not a package: npm ci leaves only a placeholder, so it comes from build.
COPY --from=build /app/node_modules/.prisma ./node_modules/.prisma
COPY --from=build /app/dist ./dist
# Read at run time from beside dist/: migrations applied at start-up, the gRPC contract, and the
# playground's static files (served when IDE_ENABLED=true).
COPY prisma ./prisma
COPY proto ./proto
COPY src/server/playground ./src/server/playground
# The image's `node` user (uid 1000), numeric so that runAsNonRoot can check it.
USER 1000:1000
EXPOSE 4000
# A larger young generation: fewer scavenges per ranking (README, Running).
CMD ["node", "--max-semi-space-size=32", "dist/src/main.js"]
