#!/usr/bin/env bash
# Builds the consulate:dev image (deploy/Dockerfile) from what the host built.
#
#   bash deploy/build-image.sh               npm run build, then the image
#   bash deploy/build-image.sh --no-compile  the image from the dist/ already there (tests, CI)
# Env: IMAGE=consulate:dev  the tag;  NODE_IMAGE=node:20-bookworm-slim  the base image.
#
# The build context is a fresh temporary directory holding exactly what the Dockerfile copies, so
# two builds at once (two test files) cannot trip over each other's staging, and nothing else of
# the repository is sent to the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-consulate:dev}"
NODE_IMAGE="${NODE_IMAGE:-node:20-bookworm-slim}"

if [ "${1:-}" != "--no-compile" ]; then npm run build; fi
[ -f dist/cli/main.js ] || { echo "build-image: dist/ is missing: run npm run build" >&2; exit 1; }

ctx="$(mktemp -d "${TMPDIR:-/tmp}/consulate-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/deploy" "$ctx/.docker-deps"
cp package.json "$ctx/"
cp -R bin dist "$ctx/"
cp deploy/docker-entrypoint.sh "$ctx/deploy/"
# The production dependencies: every package-lock entry not marked dev, copied from the installed
# node_modules (following its symlinks). Same versions as the lock file, no registry needed;
# optional platform packages that are not installed (other OSes) are skipped.
node -e '
  const fs = require("node:fs");
  const path = require("node:path");
  const [dest] = process.argv.slice(1);
  const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
  let n = 0;
  for (const [p, e] of Object.entries(lock.packages)) {
    if (p === "" || e.dev || !fs.existsSync(p)) continue;
    fs.cpSync(p, path.join(dest, p), { recursive: true, dereference: true, force: true });
    n++;
  }
  console.log(`build-image: ${n} production packages staged`);
' "$ctx/.docker-deps"

docker build -q -f deploy/Dockerfile --build-arg "NODE_IMAGE=$NODE_IMAGE" -t "$IMAGE" "$ctx" >/dev/null
docker image ls "$IMAGE" --format 'build-image: {{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'
