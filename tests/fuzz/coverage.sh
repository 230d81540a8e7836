#!/usr/bin/env bash
# Source-level coverage of the fuzz corpora (docs/fuzzing.md): builds the replay binaries with
# clang's coverage instrumentation, replays each target's seeds, saved regressions and what
# tests/fuzz/run.sh found (findings/<target>/corpus), and prints the line and branch coverage of
# the files each target is about.
#
#   tests/fuzz/coverage.sh          CAMPROXY_FUZZ_COV_DIR: build directory (default build-fuzz-cov)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${CAMPROXY_FUZZ_COV_DIR:-$root/build-fuzz-cov}
flags="-fprofile-instr-generate -fcoverage-mapping"

# The sources each target exists for (the shared readers come along in the report).
declare -A sources=(
  [client_handshake]="protocol/handshake_response.cc protocol/connect_attrs.cc"
  [server_handshake]="protocol/server_handshake.cc"
  [change_user]="protocol/change_user.cc protocol/connect_attrs.cc"
  [handshake_v10]="protocol/handshake_v10.cc"
  [auth_switch]="protocol/auth_switch.cc"
  [ok_err_eof]="protocol/ok_err_eof.cc"
  [packet]="protocol/packet.cc"
  [auth_token]="auth/token_codec.cc auth/base64.cc"
  [auth_token_info]="auth/auth_token_info.cc auth/utf8.cc"
  [cam_response]="auth/cam_response.cc"
  [response_tracker]="protocol/response_tracker.cc"
  [profile_file]="auth/profile_file.cc"
)

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCAMPROXY_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
targets=()
for source in "$here"/*_fuzz.cc; do targets+=("$(basename "$source" _fuzz.cc)"); done
cmake --build "$build" --target "${targets[@]/%/_fuzz_replay}" >/dev/null

printf '%-18s %-32s %8s %8s\n' target file lines branches
for name in "${targets[@]}"; do
  bin=$build/tests/fuzz/${name}_fuzz_replay
  inputs=("$here/corpus/$name" "$here/regressions/$name")
  [[ -d $here/findings/$name/corpus ]] && inputs+=("$here/findings/$name/corpus")
  LLVM_PROFILE_FILE="$build/$name.profraw" "$bin" "${inputs[@]}" >/dev/null 2>&1
  llvm-profdata merge -o "$build/$name.profdata" "$build/$name.profraw"
  for file in ${sources[$name]:-}; do
    # TOTAL row of the report: regions, missed, cover, functions, missed, cover, lines, missed,
    # cover, branches, missed, cover.
    read -r -a row < <(llvm-cov report "$bin" -instr-profile="$build/$name.profdata" \
      "$root/$file" | grep '^TOTAL')
    printf '%-18s %-32s %8s %8s\n' "$name" "$file" "${row[9]}" "${row[12]}"
  done
done
