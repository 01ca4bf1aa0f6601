#!/usr/bin/env bash
# Generate TypeScript types from the binary's OpenAPI document and type-check
# a client that calls every operation with them (CI runs this).
#
#   clients/typescript/check.sh [path/to/todo-api]
set -euo pipefail
BIN="$(realpath "${1:-../../target/debug/todo-api}")"
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
"$BIN" openapi > openapi.json
npm run --silent generate
npm run --silent check
echo "typescript client: $(grep -c 'await api\.' client.ts) calls type-check against the generated types"
