#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory and runs each one for a
# fixed time, several at once (docs/fuzzing.md).
#
#   tests/fuzz/run.sh [seconds-per-target]     default 60; CI uses a short time, issue 7 runs 600
#
# Environment:
#   CAMPROXY_FUZZ_BUILD_DIR  build directory (default: build-fuzz, under the repository)
#   CAMPROXY_FUZZ_TARGETS    space-separated subset, e.g. "packet ok_err_eof" (default: all)
#   CAMPROXY_FUZZ_JOBS       targets run at the same time (default: number of cores)
#   CAMPROXY_FUZZ_RUNS       also stop a target after this many executions (default: no limit)
#   CAMPROXY_FUZZ_ARGS       extra libFuzzer flags, e.g. "-use_value_profile=1"
#
# Each target starts from its checked-in seeds (tests/fuzz/corpus/<target>/) plus what earlier
# runs found (tests/fuzz/findings/<target>/corpus/, gitignored). Crashing inputs land in
# tests/fuzz/findings/<target>/ as crash-*, leak-*, timeout-* or oom-*; the log of the run is
# findings/<target>/log.txt. Exits 1 when any target failed, after every target has run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
build=${CAMPROXY_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${CAMPROXY_FUZZ_JOBS:-$(nproc)}
runs=${CAMPROXY_FUZZ_RUNS:--1}
findings=$here/findings

if [[ -n ${CAMPROXY_FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$CAMPROXY_FUZZ_TARGETS"
else
  targets=()
  for source in "$here"/*_fuzz.cc; do
    name=$(basename "$source" _fuzz.cc)
    targets+=("$name")
  done
fi

echo "== build ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCAMPROXY_FUZZ=ON \
  -DCAMPROXY_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}"

# The JSON, profile, config file, SQL and admin request targets have their own dictionary, the
# token targets (binary, base64) none; every other target reads MySQL packets.
dict_for() {
  case $1 in
    cam_response | profile_file | config_file | sql_classifier | admin_request) echo "$here/dict/$1.dict" ;;
    auth_token | auth_token_info) ;;
    *) echo "$here/dict/mysql.dict" ;;
  esac
}

run_target() {
  local name=$1 out=$findings/$1 extra
  mkdir -p "$out/corpus"
  local args=(-max_total_time="$seconds" -runs="$runs" -timeout=10 -print_final_stats=1
              -artifact_prefix="$out/")
  read -r -a extra <<<"${CAMPROXY_FUZZ_ARGS:-}"
  args+=("${extra[@]}")
  local dict
  dict=$(dict_for "$name")
  [[ -n $dict ]] && args+=(-dict="$dict")
  local status=0
  "$build/tests/fuzz/fuzz_$name" "${args[@]}" "$out/corpus" "$here/corpus/$name" \
    >"$out/log.txt" 2>&1 || status=$?
  echo "$status" >"$out/status"
}

echo "== fuzz ${#targets[@]} targets, ${seconds}s each, $jobs at a time"
for name in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  run_target "$name" &
done
wait

# One line per target from libFuzzer's final statistics.
failed=0
printf '%-18s %6s %12s %8s %6s %6s\n' target status execs seconds cov ft
for name in "${targets[@]}"; do
  out=$findings/$name
  status=$(cat "$out/status")
  execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$out/log.txt" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$out/log.txt" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/log.txt" | tail -1 || true)
  read -r _ cov_n _ ft_n <<<"${cov:-- - - -}"
  printf '%-18s %6s %12s %8s %6s %6s\n' "$name" "$status" "${execs:--}" "${secs:--}" \
    "$cov_n" "$ft_n"
  if [[ $status != 0 ]]; then
    failed=1
    echo "   $name failed: see $out/log.txt and $out/crash-* / leak-* / timeout-* / oom-*" >&2
  fi
done
exit "$failed"
