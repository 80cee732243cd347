#!/usr/bin/env bash
# The long fuzzing campaign (`make fuzz-long`): every libFuzzer target of build/fuzz (listed in
# build/fuzz/fuzz_targets.tsv by gh_fuzz_target) for FUZZ_SECONDS each, one after the other,
# with ASan and UBSan (the fuzz build has them). What it finds stays out of the source tree:
#   build/fuzz-findings/<target>/corpus/   inputs that reached new coverage
#   build/fuzz-findings/<target>/crash-*, timeout-*, leak-*, oom-*   failing inputs
#   build/fuzz-findings/<target>/log       libFuzzer's output
#   build/fuzz-findings/summary.tsv        target, seconds, executions, cov, ft, corpus, result
# A target's run continues the corpus a previous campaign left. Exits non-zero when any target
# found something; a failing input replays with `build/fuzz/.../<target> <file>`.
# FUZZ_TARGETS (space-separated names) limits the campaign to some targets.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
list="$root/build/fuzz/fuzz_targets.tsv"
out="$root/build/fuzz-findings"
seconds="${FUZZ_SECONDS:-600}"
only="${FUZZ_TARGETS:-}"
if [ ! -f "$list" ]; then
  echo "fuzz-long: $list is missing: run 'make fuzz' first" >&2
  exit 2
fi
mkdir -p "$out"
summary="$out/summary.tsv"
printf 'target\tseconds\texecs\tcov\tft\tcorpus\tresult\n' >"$summary"
failed=0
while IFS=$'\t' read -r name binary seeds options; do
  [ -n "$name" ] || continue
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then continue; fi
  dir="$out/$name"
  mkdir -p "$dir/corpus"
  echo "fuzz-long: $name for ${seconds}s"
  # shellcheck disable=SC2086 # options are separate flags
  "$binary" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$dir/" $options \
    "$dir/corpus" "$seeds" >"$dir/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$dir/log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  result=ok
  if [ $rc -ne 0 ]; then
    result="FOUND (exit $rc): $(ls "$dir" | grep -E '^(crash|timeout|leak|oom|slow-unit)-' | tr '\n' ' ')"
    failed=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corpus:-?}" "$result" | tee -a "$summary"
done <"$list"
column -t -s $'\t' "$summary"
exit $failed
