#!/usr/bin/env bash
# Builds and runs dorm's whole test suite on SQLite and on PostgreSQL:
#   1. GCC 12 with AddressSanitizer + UndefinedBehaviorSanitizer: every test (both compilation modes, the package
#      consumer, the compile-fail cases with GCC and Clang);
#   2. Clang 14 with the same sanitizers: the tests of both backends;
#   3. GCC 12 with ThreadSanitizer: the concurrency tests ([concurrency]) on both backends;
#   4. Clang 14 with libFuzzer: each fuzz target for DORM_FUZZ_SECONDS (default 60) seconds.
# Installs what it needs when run as root on Debian, and starts a throwaway PostgreSQL server on loopback unless
# DORM_TEST_POSTGRESQL_URL names one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++ clang libclang-rt-14-dev cmake ninja-build pkg-config libsqlite3-dev libpcre2-dev libfmt-dev libpq-dev \
    catch2 postgresql >/dev/null
fi

if [ -z "${DORM_TEST_POSTGRESQL_URL:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$pgbin" ]; then
    echo "tests/run.sh: PostgreSQL is not installed and DORM_TEST_POSTGRESQL_URL is not set" >&2
    exit 1
  fi
  pgdata=$(mktemp -d /tmp/dorm-pg.XXXXXX)
  port=${DORM_TEST_PG_PORT:-55432}
  as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres "$pgdata"
  as_pg "$pgbin/initdb -D $pgdata -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
  as_pg "$pgbin/pg_ctl -D $pgdata -l $pgdata/server.log -w -o \"-k $pgdata -p $port -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
  trap 'as_pg "$pgbin/pg_ctl -D $pgdata -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$pgdata"' EXIT
  as_pg "$pgbin/createdb -h 127.0.0.1 -p $port -U postgres dorm_test"
  export DORM_TEST_POSTGRESQL_URL="postgresql://postgres@127.0.0.1:$port/dorm_test"
  # The fault tests restart this throwaway server (the PostgreSQL tests run one at a time).
  if [ "$(id -u)" = 0 ]; then
    export DORM_TEST_PG_RESTART="su postgres -s /bin/sh -c '$pgbin/pg_ctl -D $pgdata -m fast -w restart' >/dev/null"
  else
    export DORM_TEST_PG_RESTART="$pgbin/pg_ctl -D $pgdata -m fast -w restart >/dev/null"
  fi
fi

build=${DORM_BUILD_DIR:-$root/build/tests}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

echo "== 1. GCC, ASan + UBSan: the whole suite"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDORM_SANITIZE=ON \
  -DDORM_TEST_POSTGRESQL_URL="$DORM_TEST_POSTGRESQL_URL" >/dev/null
cmake --build "$build" -j 2
ctest --test-dir "$build" --output-on-failure -j 2

echo "== 2. Clang, ASan + UBSan: both backends"
CXX=clang++ cmake -S "$root" -B "$build-clang" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDORM_SANITIZE=ON \
  -DDORM_BUILD_EXAMPLES=OFF -DDORM_TEST_POSTGRESQL_URL="$DORM_TEST_POSTGRESQL_URL" >/dev/null
cmake --build "$build-clang" -j 2 --target dorm_tests
ctest --test-dir "$build-clang" --output-on-failure -j 2 -R '^(sqlite|postgresql)\.'

echo "== 3. GCC, ThreadSanitizer: the concurrency tests on both backends"
cmake -S "$root" -B "$build-tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DDORM_BUILD_EXAMPLES=OFF \
  -DDORM_TEST_POSTGRESQL_URL="$DORM_TEST_POSTGRESQL_URL" >/dev/null
cmake --build "$build-tsan" -j 2 --target dorm_tests
DORM_TEST_DATABASE=sqlite::memory: "$build-tsan/tests/dorm_tests" "[concurrency]"
DORM_TEST_DATABASE="$DORM_TEST_POSTGRESQL_URL" "$build-tsan/tests/dorm_tests" "[concurrency]"

echo "== 4. Clang, libFuzzer: each fuzz target for ${DORM_FUZZ_SECONDS:-60} s"
bash "$root/tests/fuzz/run.sh" "${DORM_FUZZ_SECONDS:-60}" "$build-fuzz"
