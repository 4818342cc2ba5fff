#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets and runs each for a while on a copy of its seed corpus:
#
#   tests/fuzz/run.sh [seconds] [build-dir]      (defaults: 60, build/fuzz)
#
# Configures tests/fuzz with Clang, Ninja, Debug and -DDORM_FUZZ=ON (it brings in dorm from this tree), builds the
# targets only, runs each with -max_total_time, and prints one line per target with libFuzzer's execution count.
# Exits non-zero if a target crashed (or violated an invariant); the reproducer is then in <build-dir>/artifacts/.
# Environment: CXX (default clang++ or clang++-14), DORM_FUZZ_JOBS (build parallelism, default Ninja's).
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${2:-$root/build/fuzz}
mkdir -p "$build"
build=$(cd "$build" && pwd)

cxx=${CXX:-}
if [[ -z $cxx ]]; then
  for candidate in clang++ clang++-14; do
    if command -v "$candidate" >/dev/null; then cxx=$candidate; break; fi
  done
fi
if [[ -z $cxx ]]; then
  echo "run.sh: no clang++ found (libFuzzer needs Clang); set CXX" >&2
  exit 2
fi

cmake -S "$root/tests/fuzz" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$cxx" -DDORM_FUZZ=ON
cmake --build "$build" --target dorm_fuzz_lookup_path dorm_fuzz_queryset dorm_fuzz_loads ${DORM_FUZZ_JOBS:+-j "$DORM_FUZZ_JOBS"}

# dorm has no leaks under the test suite today: keep it so.
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

status=0
summary=()
failed=()
for target in lookup_path queryset loads; do
  exe=$(find "$build" -type f -name "dorm_fuzz_$target" -perm -u+x | head -n 1)
  corpus=$build/corpus/$target
  artifacts=$build/artifacts/$target
  log=$build/$target.log
  # A copy: libFuzzer adds what it finds to the corpus directory, and the seeds in the tree stay as written.
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp -R "$root/tests/fuzz/corpus/$target/." "$corpus/"
  args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=25 -artifact_prefix="$artifacts/")
  if [[ -f $root/tests/fuzz/$target.dict ]]; then args+=(-dict="$root/tests/fuzz/$target.dict"); fi
  echo "run.sh: dorm_fuzz_$target for ${seconds}s (log: $log)"
  set +e
  "$exe" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [[ $rc -eq 0 ]]; then
    summary+=("$(printf 'dorm_fuzz_%-12s ok     %10s executions in %ss' "$target" "${runs:-?}" "$seconds")")
  else
    status=1
    crash=$(ls -t "$artifacts" 2>/dev/null | head -n 1)
    summary+=("$(printf 'dorm_fuzz_%-12s FAILED %10s executions (exit %d; reproducer: %s; log: %s)' "$target" \
      "${runs:-?}" "$rc" "${crash:+$artifacts/$crash}" "$log")")
    failed+=("$target:${crash:+$artifacts/$crash}:$log")
  fi
done

# A failure on a machine that is thrown away afterwards (CI) must still be reproducible: the end of the report and
# the input itself, base64-encoded (`base64 -d > input` and run the target on it).
for f in "${failed[@]}"; do
  IFS=: read -r target crash log <<<"$f"
  echo "== dorm_fuzz_$target: the end of its log"
  tail -n 60 "$log"
  if [[ -n $crash && -f $crash ]]; then
    echo "== dorm_fuzz_$target: the input, base64"
    base64 -w 100 "$crash"
  fi
done
printf '%s\n' "${summary[@]}"
exit $status
