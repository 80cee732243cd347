#!/usr/bin/env bash
# `gatehouse check` on a file with several problems: exit 1 and every problem
# listed with its line, in one run.
set -u
gatehouse=$1 file=$2
out=$("$gatehouse" check --config "$file" 2>&1)
code=$?
fail() { echo "check_config: $1"; echo "$out"; exit 1; }
[ "$code" -eq 1 ] || fail "expected exit 1, got $code"
for want in \
  "bad.yaml:4: unknown key \`colour\`" \
  "bad.yaml:10: identity.issuers[0].jwks_file: cannot read" \
  "bad.yaml:14: listeners[0].listen port: \`99999\` is out of range" \
  "bad.yaml:19: connections[0].upstream.tls: \`sometimes\` is not one of" \
  "bad.yaml:20: connections[0].credentials.password_env: environment variable \`GATEHOUSE_TEST_UNSET_VARIABLE\` is not set" \
  "bad.yaml:22: access[0]: an access rule must name groups or subjects" \
  "bad.yaml:26: masking[0].detectors: unknown detector \`passport\`" \
  "7 problem(s); configuration refused"; do
  grep -qF -- "$want" <<<"$out" || fail "missing: $want"
done
echo "check_config: all 7 problems reported with their lines"
