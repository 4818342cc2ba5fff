#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions and heap allocations per call, dorm against the raw driver, on SQLite and (when a URL is given)
# PostgreSQL: runs dorm_per_query (per_query.cpp) under callgrind, counting only the calls made inside its
# measured_<side>_<op> functions (--toggle-collect), and prints a markdown table; a second one compares get(pk) and
# create() with the C++ peers (SOCI, libpqxx) when the program was built with them.
#
#   tests/bench/per_query.sh BUILD_DIR [POSTGRESQL_URL]
#
# callgrind counts the instructions of this client process only: the work of the PostgreSQL server (parsing,
# planning, executing) is not in the PostgreSQL numbers, while SQLite's, which runs in the process, is in SQLite's.
# Fails when the program does, e.g. when dorm and the raw driver decoded different values.
set -euo pipefail

build=${1:?usage: per_query.sh BUILD_DIR [POSTGRESQL_URL]}
url=${2:-}
bin=$build/tests/bench/dorm_per_query
[[ -x $bin ]] || { echo "per_query.sh: no $bin (build the dorm_per_query target)" >&2; exit 1; }
command -v valgrind > /dev/null || { echo "per_query.sh: valgrind is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

backends=(sqlite)
[[ -n $url ]] && backends+=(postgresql)
rows=()
peer_rows=()
for backend in "${backends[@]}"; do
    args=(--backend "$backend")
    [[ $backend == postgresql ]] && args+=(--url "$url")
    # One run per backend: every measured function is toggled, and each one's inclusive cost is read apart below.
    if ! valgrind --tool=callgrind --callgrind-out-file="$work/$backend.out" --toggle-collect='measured_*' \
            "$bin" "${args[@]}" > "$work/$backend.txt" 2> "$work/$backend.log"; then
        cat "$work/$backend.txt" "$work/$backend.log" >&2
        echo "per_query.sh: dorm_per_query failed on $backend" >&2
        exit 1
    fi
    cat "$work/$backend.txt"
    # Inclusive Ir of each measured function: the sum of every cost line in its fn= blocks (its own lines and those
    # after calls=). Names may be compressed: "fn=(12) name" the first time, "fn=(12)" (or "cfn=(12)") later.
    awk '
        function name_of(spec,    id, rest) {
            if (!match(spec, /^\([0-9]+\)/)) return spec
            id = substr(spec, 1, RLENGTH); rest = substr(spec, RLENGTH + 2)
            if (rest != "") names[id] = rest
            return names[id]
        }
        /^fn=/ { fn = name_of(substr($0, 4)); next }
        /^cfn=/ { name_of(substr($0, 5)); next }
        /^[0-9+*-]/ { if (fn ~ /^measured_/) ir[fn] += $2 }
        END { for (f in ir) print f, ir[f] }
    ' "$work/$backend.out" > "$work/$backend.ir"
    for op in get create list; do
        line() {  # the program's "<backend> <op> <side> calls N rows R allocs/call A checksum S"
            awk -v key="$backend $op $1 calls" '$1 " " $2 " " $3 " " $4 == key' "$work/$backend.txt"
        }
        ir() { awk -v f="measured_$1_$op" '$1 == f { print $2 }' "$work/$backend.ir"; }
        read -r _ _ _ _ dorm_calls _ _ _ dorm_allocs _ <<< "$(line dorm)"
        read -r _ _ _ _ raw_calls _ _ _ raw_allocs _ <<< "$(line raw)"
        dorm_ir=$(ir dorm) raw_ir=$(ir raw)
        if [[ -z $dorm_ir || -z $raw_ir || -z $dorm_calls || -z $raw_calls ]]; then
            echo "per_query.sh: no measurement of $backend $op" >&2
            exit 1
        fi
        rows+=("$(awk -v b="$backend" -v o="$op" -v d="$((dorm_ir / dorm_calls))" -v r="$((raw_ir / raw_calls))" \
                      -v da="$dorm_allocs" -v ra="$raw_allocs" \
                      'BEGIN { printf "| %s | %s | %d | %d | %.2f | %s | %s |", b, o, d, r, d / r, da, ra }')")
        # The C++ peers the program was built with (SOCI, libpqxx), beside dorm: it measures them on get and create.
        for peer in soci libpqxx; do
            peer_line=$(line "$peer")
            [[ -n $peer_line ]] || continue
            read -r _ _ _ _ peer_calls _ _ _ peer_allocs _ <<< "$peer_line"
            peer_ir=$(ir "${peer/libpqxx/pqxx}")
            if [[ -z $peer_ir || -z $peer_calls ]]; then
                echo "per_query.sh: no measurement of $backend $op on $peer" >&2
                exit 1
            fi
            peer_rows+=("$(awk -v b="$backend" -v o="$op" -v p="$peer" -v d="$((dorm_ir / dorm_calls))" \
                               -v q="$((peer_ir / peer_calls))" -v da="$dorm_allocs" -v pa="$peer_allocs" \
                               'BEGIN { printf "| %s | %s | %s | %d | %d | %.2f | %s | %s |",
                                                b, o, p, d, q, d / q, da, pa }')")
        done
    done
done

echo
echo "| backend | op | dorm instr/call | raw instr/call | ratio | dorm allocs/call | raw allocs/call |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if (( ${#peer_rows[@]} )); then
    echo
    echo "| backend | op | peer | dorm instr/call | peer instr/call | dorm / peer |" \
         "dorm allocs/call | peer allocs/call |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${peer_rows[@]}"
fi
