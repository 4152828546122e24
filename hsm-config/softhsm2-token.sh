#!/usr/bin/env bash
# Creates a throwaway SoftHSM2 token for development and tests, and prints the environment that
# points the vault and its tests at it. Usage:
#   eval "$(hsm-config/softhsm2-token.sh [DIR])"
# PINs come from the environment (VAULT_HSM_PIN, VAULT_HSM_SO_PIN); random ones are made if unset.
# Nothing here is for production: a real deployment initialises its token with the vendor's tools.
set -euo pipefail

dir=${1:-$(mktemp -d /tmp/medikamente-softhsm.XXXXXX)}
label=${VAULT_HSM_TOKEN_LABEL:-medikamente-test}
module=${VAULT_HSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
pin=${VAULT_HSM_PIN:-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
so_pin=${VAULT_HSM_SO_PIN:-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}

if ! command -v softhsm2-util >/dev/null || [ ! -f "$module" ]; then
  echo "softhsm2-token.sh: SoftHSM2 is not installed (apt-get install softhsm2)" >&2
  exit 1
fi

mkdir -p "$dir/tokens"
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
chmod 600 "$dir/softhsm2.conf"

SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label "$label" \
  --so-pin "$so_pin" --pin "$pin" >/dev/null

printf 'export SOFTHSM2_CONF=%q\n' "$dir/softhsm2.conf"
printf 'export VAULT_HSM_MODULE=%q\n' "$module"
printf 'export VAULT_HSM_TOKEN_LABEL=%q\n' "$label"
printf 'export VAULT_HSM_PIN=%q\n' "$pin"
