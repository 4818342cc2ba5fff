#!/usr/bin/env bash
# Builds and runs dorm's whole test suite on SQLite and on PostgreSQL:
#   1. GCC 12 with AddressSanitizer + UndefinedBehaviorSanitizer: every test (both compilation modes, the package
#      consumer, the compile-fail cases with GCC and Clang);
#   2. Clang 14 with the same sanitizers: the tests of both backends;
#   3. GCC 12 with ThreadSanitizer: the concurrency and asynchronous tests ([concurrency], [async]) on
#      both backends;
#   4. Clang 14 with libFuzzer: each fuzz target for DORM_FUZZ_SECONDS (default 60) seconds.
# Installs what it needs when run as root on Debian, and starts a throwaway PostgreSQL server on loopback, a
# streaming replica of it and pgbouncer in front of it, unless DORM_TEST_POSTGRESQL_URL names a server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++ clang libclang-rt-14-dev cmake ninja-build pkg-config libsqlite3-dev libpcre2-dev libssl-dev libhowardhinnant-date-dev tzdata libfmt-dev libpq-dev \
    libasio-dev catch2 postgresql pgbouncer >/dev/null
fi

if [ -z "${DORM_TEST_POSTGRESQL_URL:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$pgbin" ]; then
    echo "tests/run.sh: PostgreSQL is not installed and DORM_TEST_POSTGRESQL_URL is not set" >&2
    exit 1
  fi
  pgdata=$(mktemp -d /tmp/dorm-pg.XXXXXX)
  replica=$(mktemp -d /tmp/dorm-pg-replica.XXXXXX)
  bouncer=$(mktemp -d /tmp/dorm-pgbouncer.XXXXXX)
  port=${DORM_TEST_PG_PORT:-55432}
  replica_port=$((port + 2))
  bouncer_port=$((port + 3))
  as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres "$pgdata" "$replica" "$bouncer"
  stop_servers() {
    [ -f "$bouncer/pgbouncer.pid" ] && kill "$(cat "$bouncer/pgbouncer.pid")" 2>/dev/null || true
    as_pg "$pgbin/pg_ctl -D $replica -m immediate stop" >/dev/null 2>&1 || true
    as_pg "$pgbin/pg_ctl -D $pgdata -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$pgdata" "$replica" "$bouncer"
  }
  trap stop_servers EXIT
  as_pg "$pgbin/initdb -D $pgdata -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
  as_pg "$pgbin/pg_ctl -D $pgdata -l $pgdata/server.log -w -o \"-k $pgdata -p $port -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
  # A streaming replica of it (the replica tests route reads there): a base backup with its standby settings.
  as_pg "$pgbin/pg_basebackup -h 127.0.0.1 -p $port -U postgres -D $replica -R -X stream" >"$bouncer/basebackup.log" 2>&1 ||
    { cat "$bouncer/basebackup.log" >&2; exit 1; }
  rm -f "$replica/server.log"
  as_pg "$pgbin/pg_ctl -D $replica -l $replica/server.log -w -o \"-k $replica -p $replica_port -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
  as_pg "$pgbin/createdb -h 127.0.0.1 -p $port -U postgres dorm_test"
  export DORM_TEST_POSTGRESQL_URL="postgresql://postgres@127.0.0.1:$port/dorm_test"
  export DORM_TEST_REPLICA_URL="postgresql://postgres@127.0.0.1:$replica_port/dorm_test"
  # pgbouncer in transaction-pooling mode in front of the primary (a test area runs through it).
  cat > "$bouncer/pgbouncer.ini" <<EOF
[databases]
dorm_test = host=127.0.0.1 port=$port dbname=dorm_test
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $bouncer/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
pidfile = $bouncer/pgbouncer.pid
logfile = $bouncer/pgbouncer.log
EOF
  echo '"postgres" ""' > "$bouncer/userlist.txt"
  [ "$(id -u)" = 0 ] && chown postgres "$bouncer"/*
  as_pg "pgbouncer -d $bouncer/pgbouncer.ini"
  export DORM_TEST_PGBOUNCER_URL="postgresql://postgres@127.0.0.1:$bouncer_port/dorm_test?transaction_pooling=true"
  ready=no
  for _ in $(seq 100); do
    if as_pg "$pgbin/psql -h 127.0.0.1 -p $replica_port -U postgres -d dorm_test -Atc 'SELECT 1'" >/dev/null 2>&1 &&
      as_pg "$pgbin/psql -h 127.0.0.1 -p $bouncer_port -U postgres -d dorm_test -Atc 'SELECT 1'" >/dev/null 2>&1; then
      ready=yes
      break
    fi
    sleep 0.2
  done
  if [ "$ready" != yes ]; then
    echo "tests/run.sh: the replica or pgbouncer did not come up" >&2
    exit 1
  fi
  # The fault tests restart this throwaway server and stop and start the replica (the PostgreSQL tests run one at
  # a time).
  replica_start="$pgbin/pg_ctl -D $replica -l $replica/server.log -w -o \"-k $replica -p $replica_port -c listen_addresses=127.0.0.1 -c fsync=off\" start"
  if [ "$(id -u)" = 0 ]; then
    export DORM_TEST_PG_RESTART="su postgres -s /bin/sh -c '$pgbin/pg_ctl -D $pgdata -m fast -w restart' >/dev/null"
    export DORM_TEST_REPLICA_STOP="su postgres -s /bin/sh -c '$pgbin/pg_ctl -D $replica -m fast -w stop' >/dev/null"
    export DORM_TEST_REPLICA_START="su postgres -s /bin/sh -c '$replica_start' >/dev/null"
  else
    export DORM_TEST_PG_RESTART="$pgbin/pg_ctl -D $pgdata -m fast -w restart >/dev/null"
    export DORM_TEST_REPLICA_STOP="$pgbin/pg_ctl -D $replica -m fast -w stop >/dev/null"
    export DORM_TEST_REPLICA_START="$replica_start >/dev/null"
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

echo "== 3. GCC, ThreadSanitizer: the concurrency and asynchronous tests on both backends"
cmake -S "$root" -B "$build-tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -Wno-tsan" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DDORM_BUILD_EXAMPLES=OFF \
  -DDORM_TEST_POSTGRESQL_URL="$DORM_TEST_POSTGRESQL_URL" >/dev/null
cmake --build "$build-tsan" -j 2 --target dorm_tests_threads
# dorm_tests_threads holds only the files with these tests: it must list every one the whole suite has.
tagged() { "$1" --list-test-names-only "[concurrency],[async]" | sed '/^$/d' | sort || true; }  # exits with the count
expected=$(tagged "$build/tests/dorm_tests")
listed=$(tagged "$build-tsan/tests/dorm_tests_threads")
if [ -z "$expected" ] || [ "$expected" != "$listed" ]; then
  echo "tests/run.sh: dorm_tests_threads does not hold every [concurrency] and [async] test of dorm_tests:" >&2
  diff <(echo "$expected") <(echo "$listed") >&2 || true
  exit 1
fi
DORM_TEST_DATABASE=sqlite::memory: "$build-tsan/tests/dorm_tests_threads" "[concurrency],[async]"
DORM_TEST_DATABASE="$DORM_TEST_POSTGRESQL_URL" "$build-tsan/tests/dorm_tests_threads" "[concurrency],[async]"

echo "== 4. Clang, libFuzzer: each fuzz target for ${DORM_FUZZ_SECONDS:-60} s"
bash "$root/tests/fuzz/run.sh" "${DORM_FUZZ_SECONDS:-60}" "$build-fuzz"
