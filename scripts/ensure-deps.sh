#!/usr/bin/env bash
# Installs the npm dependencies and generates the Prisma client when they are missing or stale,
# so `npm start` and `npm test` work on a fresh clone. Cheap when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# npm leaves a placeholder client until `prisma generate` has run; the generated one carries a copy
# of the schema it was made from.
if ! cmp -s prisma/schema.prisma node_modules/.prisma/client/schema.prisma; then
  # The schema reads DATABASE_URL; generating needs only a syntactically valid one.
  DATABASE_URL="${DATABASE_URL:-postgresql://127.0.0.1:5432/unused}" npx prisma generate >/dev/null
fi
