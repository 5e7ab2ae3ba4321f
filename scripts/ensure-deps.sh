#!/usr/bin/env bash
# Installs the npm dependencies and generates the Prisma client when they are missing or stale,
# so `npm start` and `npm test` work on a fresh clone. Cheap when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -f node_modules/.prisma/client/index.js ] || [ prisma/schema.prisma -nt node_modules/.prisma/client/index.js ]; then
  # The schema reads DATABASE_URL; generating needs only a syntactically valid one.
  DATABASE_URL="${DATABASE_URL:-postgresql://127.0.0.1:5432/unused}" npx prisma generate >/dev/null
fi
