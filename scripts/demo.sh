#!/usr/bin/env bash
# Runs the system on its embedded default: the vault (SQLite file and a software KEK under
# ./data, demo mode, made-up patients) and clinic-app in front of it (its own SQLite file under
# ./data, a made-up clinic). Prints where to reach both. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${DATA_DIR:-data}"
VAULT_LISTEN="${VAULT_LISTEN:-127.0.0.1:8200}"
CLINIC_LISTEN="${CLINIC_LISTEN:-127.0.0.1:8300}"

cargo build --quiet -p vault -p clinic-app
target="${CARGO_TARGET_DIR:-target}"

"$target/debug/vault" demo --listen "$VAULT_LISTEN" --data-dir "$DATA_DIR" &
vault_pid=$!
trap 'kill "$vault_pid" 2>/dev/null || true' EXIT INT TERM

# clinic-app needs the vault up (and, on the first start, its hand-off file).
for _ in $(seq 1 100); do
  if curl -fsS "http://$VAULT_LISTEN/healthz" >/dev/null 2>&1 && [ -f "$DATA_DIR/vault-demo-handoff.json" ]; then
    break
  fi
  if ! kill -0 "$vault_pid" 2>/dev/null; then
    echo "demo: the vault stopped; see its message above" >&2
    exit 1
  fi
  sleep 0.2
done

"$target/debug/clinic-app" demo --listen "$CLINIC_LISTEN" --data-dir "$DATA_DIR" --vault-url "http://$VAULT_LISTEN" &
clinic_pid=$!
trap 'kill "$clinic_pid" "$vault_pid" 2>/dev/null || true' EXIT INT TERM
wait -n "$vault_pid" "$clinic_pid"
