#!/usr/bin/env bash
# Puts the Kafka broker's jars (scripts/kafka/pom.xml) into .cache/kafka-libs, from Maven Central.
# Does nothing when they are already there, so tests and `npm run kafka:start` can call it freely.
# Usage: scripts/kafka/resolve.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.cache/kafka-libs
stamp="$dir/.resolved"
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$stamp" -nt scripts/kafka/pom.xml ]; then exit 0; fi
command -v mvn >/dev/null || { echo "kafka: Maven (mvn) is needed to fetch the broker jars" >&2; exit 1; }
command -v java >/dev/null || { echo "kafka: a JDK (java 17+) is needed to run the broker" >&2; exit 1; }
rm -rf "$dir"
echo "kafka: resolving broker jars into $dir" >&2
mvn -B -q -Dstyle.color=never -f scripts/kafka/pom.xml dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$PWD/$dir" >&2
touch "$stamp"
