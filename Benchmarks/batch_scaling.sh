#!/usr/bin/env bash
# Parallel efficiency of `metasim batch`: episodes per second of one batch run with --jobs 1 and
# with --jobs 2 (alternating, REPEATS times each; medians), their ratio, and a check that both
# wrote identical outputs.
#
#   Benchmarks/batch_scaling.sh [SPEC]      (default: docs/examples/catalog.yaml, every catalog world)
#   METASIM=path/to/metasim REPEATS=5 JOBS="1 2" Benchmarks/batch_scaling.sh
#
# Wall time of the whole command (start-up and catalog loading included). Run it on a quiet machine.
set -euo pipefail

METASIM=${METASIM:-.build/release/metasim}
SPEC=${1:-docs/examples/catalog.yaml}
REPEATS=${REPEATS:-3}
JOBS=${JOBS:-"1 2"}
WORLDS=${WORLDS:-worlds}

[ -x "$METASIM" ] || { echo "no $METASIM: build it first (make build), or set METASIM" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A rates
for r in $(seq "$REPEATS"); do
    for j in $JOBS; do
        out="$work/jobs$j-$r"
        start=$(date +%s.%N)
        /usr/bin/time -f "%U %S" -o "$work/cpu" \
            "$METASIM" batch "$SPEC" --output "$out" --jobs "$j" --worlds "$WORLDS" --progress none > /dev/null
        end=$(date +%s.%N)
        episodes=$(wc -l < "$out/episodes.jsonl")
        wall=$(echo "$end - $start" | bc -l)
        rate=$(echo "$episodes / $wall" | bc -l)
        # CPU use of the run (user + system over wall): near 100 % x jobs when the cores were free.
        cpu=$(awk -v w="$wall" '{printf "%.0f", 100 * ($1 + $2) / w}' "$work/cpu")
        printf 'run %d  --jobs %d  %d episodes  %6.2f s  %8.1f episodes/s  cpu %s %%\n' "$r" "$j" "$episodes" "$wall" "$rate" "$cpu"
        rates[$j]="${rates[$j]:-} $rate"
        if [ "$j" != "${JOBS%% *}" ]; then
            first="$work/jobs${JOBS%% *}-$r"
            cmp -s "$first/episodes.jsonl" "$out/episodes.jsonl" && cmp -s "$first/summary.csv" "$out/summary.csv" \
                || { echo "outputs differ between --jobs ${JOBS%% *} and --jobs $j" >&2; exit 1; }
        fi
        rm -rf "$work/jobs$j-$((r - 1))"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=""
echo "spec $SPEC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), median of $REPEATS"
for j in $JOBS; do
    m=$(echo "${rates[$j]}" | median)
    [ -z "$base" ] && base=$m
    printf -- '--jobs %d: %8.1f episodes/s   speed-up %.2fx   (identical outputs)\n' "$j" "$m" "$(echo "$m / $base" | bc -l)"
done
