#!/usr/bin/env bash
# `npm run playground`: installs the npm packages if needed and serves the page on 127.0.0.1:5173.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npx vite --host 127.0.0.1 --port 5173 "$@"
