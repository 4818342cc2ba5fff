#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compile-time benchmark (not part of the test run): user CPU and peak memory of GCC at -O2, for
#   (a) a one-model program in header-only and separate mode, next to the same program on sqlite3's C API;
#   (b) examples/blog in both modes;
#   (c) a synthetic application (20 models in one header, 10 translation units querying two each), full build;
#   (d) the test suite's full build (as tests/run.sh builds it) and the compile-fail checks.
# Usage: tests/bench/compile_time.sh [--quick] [ROOT ...]   (ROOT: a dorm checkout; default: this one. Several roots
# are measured one after the other in the same run, e.g. a checkout of an older commit next to this one.)
# --quick leaves out (d). (a) is the median of 3 compiles; the larger builds run once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
quick=0
roots=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) roots+=("$(cd "$a" && pwd)") ;;
  esac
done
[ ${#roots[@]} -gt 0 ] || roots=("$(cd "$here/../.." && pwd)")
CXX=${CXX:-g++}
work=$(mktemp -d /tmp/dorm-compile-time.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One compile: "user-seconds peak-MB" of the compiler (median of 3 runs by user time).
compile1() {
  local runs=()
  for _ in 1 2 3; do
    /usr/bin/time -f "%U %M" -o "$work/time" "$CXX" "$@" 2>"$work/err" >/dev/null || { cat "$work/err" >&2; return 1; }
    runs+=("$(cat "$work/time")")
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p | awk '{printf "%.2f %d\n", $1, $2 / 1024}'
}
# Several compiles in a row (a full build): "user-seconds peak-MB", the sum of the times and the largest peak.
build() {
  local total=0 peak=0 t m
  while [ $# -gt 0 ]; do
    local args=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    /usr/bin/time -f "%U %M" -o "$work/time" "$CXX" "${args[@]}" 2>"$work/err" >/dev/null || { cat "$work/err" >&2; return 1; }
    read -r t m < "$work/time"
    total=$(awk -v a="$total" -v b="$t" 'BEGIN { print a + b }')
    [ "$m" -gt "$peak" ] && peak=$m
  done
  awk -v t="$total" -v m="$peak" 'BEGIN { printf "%.2f %d\n", t, m / 1024 }'
}
row() {  # label, "user peak", baseline user
  local u m
  read -r u m <<< "$2"
  printf '| %s | %.2f s | %s | %d MB |\n' "$1" "$u" "$(awk -v u="$u" -v b="$3" 'BEGIN { printf "%.1f×", u / b }')" "$m"
}

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $($CXX --version | head -n 1)"
for root in "${roots[@]}"; do
  inc="-std=c++20 -O2 -I$root/include"
  separate=0
  [ -f "$root/include/dorm/src.hpp" ] && separate=1
  extern=0
  grep -q DORM_EXTERN_MODEL "$root/include/dorm/model.hpp" && extern=1
  echo
  echo "### $root ($(git -C "$root" log -1 --format=%h 2>/dev/null || echo '?'))"
  echo
  echo "| what (GCC -O2) | user CPU | × sqlite3 program | peak memory |"
  echo "|---|---|---|---|"
  raw=$(compile1 $inc -c "$here/compile/one_model_raw.cpp" -o "$work/raw.o")
  base=${raw%% *}
  row "(a) one-model program on sqlite3's C API + fmt" "$raw" "$base"
  row "(a) one-model program, header-only" "$(compile1 $inc -c "$here/compile/one_model.cpp" -o "$work/a.o")" "$base"
  if [ $separate = 1 ]; then
    row "(a) one-model program, separate mode" \
      "$(compile1 $inc -DDORM_SEPARATE_COMPILATION -c "$here/compile/one_model.cpp" -o "$work/a.o")" "$base"
    printf '#include <dorm/sqlite.hpp>\n#include <dorm/src.hpp>\n' > "$work/src.cpp"
    row "(a) separate mode: the runtime's one translation unit (once per program)" \
      "$(compile1 $inc -DDORM_SEPARATE_COMPILATION -c "$work/src.cpp" -o "$work/src.o")" "$base"
  fi
  row "(b) examples/blog, header-only" "$(build $inc -c "$root/examples/blog/main.cpp" -o "$work/b.o")" "$base"
  if [ $separate = 1 ]; then
    row "(b) examples/blog, separate mode" \
      "$(build $inc -DDORM_SEPARATE_COMPILATION -c "$root/examples/blog/main.cpp" -o "$work/b.o")" "$base"
  fi

  # (c) the synthetic application
  syn="$work/synthetic"
  rm -rf "$syn"
  python3 "$here/compile/synthetic.py" "$syn"
  units=()
  for f in "$syn"/unit[0-9].cpp "$syn"/main.cpp; do units+=($inc -c "$f" -o "$f.o" --); done
  row "(c) synthetic application (20 models, 10 units + main), header-only" "$(build "${units[@]}")" "$base"
  small=$(build $inc -c "$syn/unit0_small.cpp" -o "$work/s.o")
  full=$(build $inc -c "$syn/unit0.cpp" -o "$work/s.o")
  per_model_ho=$(awk -v a="${full%% *}" -v b="${small%% *}" 'BEGIN { printf "%.3f", (a - b) / 18 }')
  if [ $separate = 1 ]; then
    sep="-DDORM_SEPARATE_COMPILATION"
    units=()
    for f in "$syn"/unit[0-9].cpp "$syn"/main.cpp; do units+=($inc $sep -c "$f" -o "$f.o" --); done
    units+=($inc $sep -c "$work/src.cpp" -o "$work/src.o" --)
    row "(c) synthetic application, separate mode (+ the runtime's unit)" "$(build "${units[@]}")" "$base"
    if [ $extern = 1 ]; then
      rm -rf "$syn"
      python3 "$here/compile/synthetic.py" "$syn" --extern
      units=()
      for f in "$syn"/unit[0-9].cpp "$syn"/main.cpp "$syn"/models.cpp; do units+=($inc $sep -c "$f" -o "$f.o" --); done
      units+=($inc $sep -c "$work/src.cpp" -o "$work/src.o" --)
      row "(c) synthetic application, separate mode + DORM_EXTERN_MODEL (+ models.cpp, the runtime's unit)" \
        "$(build "${units[@]}")" "$base"
      small=$(build $inc $sep -c "$syn/unit0_small.cpp" -o "$work/s.o")
      full=$(build $inc $sep -c "$syn/unit0.cpp" -o "$work/s.o")
      per_model_ext=$(awk -v a="${full%% *}" -v b="${small%% *}" 'BEGIN { printf "%.3f", (a - b) / 18 }')
      # DORM_EXTERN_MODEL works header-only too: the models' metadata is then compiled in models.cpp alone.
      small=$(build $inc -c "$syn/unit0_small.cpp" -o "$work/s.o")
      full=$(build $inc -c "$syn/unit0.cpp" -o "$work/s.o")
      per_model_ho_ext=$(awk -v a="${full%% *}" -v b="${small%% *}" 'BEGIN { printf "%.3f", (a - b) / 18 }')
    fi
  fi
  echo
  echo "Each model of an included header that a translation unit does not query (unit0 with 20 models vs 2): header-only ${per_model_ho} s${per_model_ho_ext:+ (with DORM_EXTERN_MODEL ${per_model_ho_ext} s)}${per_model_ext:+; separate mode with DORM_EXTERN_MODEL ${per_model_ext} s}."
  unset per_model_ext per_model_ho_ext

  # (d) the test suite, configured and built as tests/run.sh does (2 parallel jobs; user CPU of the whole build)
  if [ $quick = 0 ]; then
    suite="$work/suite"
    cmake -S "$root" -B "$suite" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDORM_SANITIZE=ON -DDORM_BUILD_EXAMPLES=OFF \
      -DDORM_TEST_POSTGRESQL_URL=postgresql://unused >/dev/null
    /usr/bin/time -f "%U %M %e" -o "$work/time" cmake --build "$suite" --target dorm_tests -j 2 >/dev/null
    read -r u m e < "$work/time"
    echo
    printf -- '- (d) test suite build (dorm_tests, Debug + ASan/UBSan, -j2): %.0f s user CPU, %.0f s elapsed, %d MB peak\n' \
      "$u" "$e" $((m / 1024))
    if grep -q dorm_tests_header_only "$root/tests/CMakeLists.txt"; then
      /usr/bin/time -f "%U %M %e" -o "$work/time" cmake --build "$suite" --target dorm_tests_header_only -j 2 >/dev/null
      read -r u m e < "$work/time"
      printf -- '- (d) the same tests built header-only too (dorm_tests_header_only): %.0f s user CPU, %.0f s elapsed, %d MB peak\n' \
        "$u" "$e" $((m / 1024))
    fi
    /usr/bin/time -f "%U %M %e" -o "$work/time" ctest --test-dir "$suite" -R compile_fail -j 2 >/dev/null
    read -r u m e < "$work/time"
    printf -- '- (d) compile-fail checks (ctest -R compile_fail, -j2): %.0f s user CPU, %.0f s elapsed\n' "$u" "$e"
    rm -rf "$suite"
  fi
done
