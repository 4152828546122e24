#!/usr/bin/env bash
# Runs the system on its embedded default: SQLite files and a software KEK under ./data (demo
# mode, made-up patients). Prints where to reach it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p vault -- demo --listen "${VAULT_LISTEN:-127.0.0.1:8200}" --data-dir "${DATA_DIR:-data}" "$@"
