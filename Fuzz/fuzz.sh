#!/usr/bin/env bash
# The libFuzzer targets of metasim (docs/fuzzing.md).
#
#   Fuzz/fuzz.sh build [release|debug]   build every target into .build-fuzz (ASan + libFuzzer)
#   Fuzz/fuzz.sh smoke                   replay Fuzz/corpus/T and Fuzz/regressions/T through the plain
#                                        debug build's targets (after `swift build`)
#   Fuzz/fuzz.sh run [TARGET...]         fuzz each target (all by default) for FUZZ_SECONDS on FUZZ_JOBS workers
#   Fuzz/fuzz.sh repro TARGET FILE...    run a target on given inputs (a crash file, a regression)
#
# Environment: FUZZ_SECONDS (600), FUZZ_JOBS (1), FUZZ_CONFIG (release: the build run uses),
# FUZZ_PENDING=1 (smoke also replays the regressions listed in Fuzz/regressions/PENDING),
# FUZZ_FLAGS (more libFuzzer flags), SWIFT (swift).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(FuzzProtocol FuzzWorld FuzzExpression FuzzSafeTensors FuzzYAML)
SWIFT=${SWIFT:-swift}
SCRATCH=.build-fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-1}

# Per target: libFuzzer flags. -max_len keeps inputs at the size of what the target reads (a
# world file is up to ~20 kB, a request stream a few frames); -rss_limit_mb and -timeout tell a
# legitimately large or slow input from a crash; -malloc_limit_mb catches one huge allocation.
flags() {
    local common="-rss_limit_mb=3072 -malloc_limit_mb=2048"
    case "$1" in
        FuzzProtocol) echo "$common -max_len=65536 -timeout=30 -dict=Fuzz/dict/protocol.dict" ;;
        FuzzWorld) echo "$common -max_len=32768 -timeout=30 -dict=Fuzz/dict/world.dict" ;;
        FuzzExpression) echo "$common -max_len=4096 -timeout=10 -dict=Fuzz/dict/expression.dict" ;;
        FuzzSafeTensors) echo "$common -max_len=65536 -timeout=10 -dict=Fuzz/dict/safetensors.dict" ;;
        FuzzYAML) echo "$common -max_len=32768 -timeout=10 -dict=Fuzz/dict/world.dict" ;;
        *) echo "unknown target $1 (targets: ${TARGETS[*]})" >&2; exit 2 ;;
    esac
}

build() {
    local config=${1:-${FUZZ_CONFIG:-release}}
    local san="-sanitize=fuzzer,address"
    for t in "${TARGETS[@]}"; do
        "$SWIFT" build -c "$config" --scratch-path "$SCRATCH" --product "$t" \
            -Xswiftc -DFUZZING -Xswiftc "$san" -Xswiftc -enable-testing \
            -Xcc -fsanitize=fuzzer-no-link,address -Xcxx -fsanitize=fuzzer-no-link,address
    done
}

binary() { echo "$SCRATCH/${FUZZ_CONFIG:-release}/$1"; }

# Sanitizer and runtime settings: ASan reports Swift's traps (SIGILL) with the trap message and
# stack; Swift's own backtracer is off (libFuzzer handles the signal); leaks are not checked.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:handle_sigill=1:handle_abort=1}
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

# Files of Fuzz/regressions/T not listed in Fuzz/regressions/PENDING (unless FUZZ_PENDING=1).
regressions() {
    local t=$1 f
    [ -d "Fuzz/regressions/$t" ] || return 0
    for f in "Fuzz/regressions/$t"/*; do
        [ -f "$f" ] || continue
        if [ "${FUZZ_PENDING:-0}" != 1 ] && grep -qxF "$t/$(basename "$f")" Fuzz/regressions/PENDING 2>/dev/null; then
            echo "  (pending, skipped: $f)" >&2
            continue
        fi
        echo "$f"
    done
}

# The plain debug build's targets (`swift build`) replay inputs without libFuzzer: every committed
# corpus input and regression runs once, in seconds; any trap fails (the file is named).
smoke() {
    local failed=0 t files
    for t in "${TARGETS[@]}"; do
        files=$(regressions "$t")
        # shellcheck disable=SC2086
        if ! SWIFT_BACKTRACE=enable=yes,interactive=no,color=no .build/debug/"$t" Fuzz/corpus/"$t" $files \
                > "$SCRATCH/smoke-$t.log" 2>&1; then
            echo "FAILED: $t ($SCRATCH/smoke-$t.log)"; tail -20 "$SCRATCH/smoke-$t.log"; failed=1
        else
            echo "$t: $(tail -1 "$SCRATCH/smoke-$t.log")"
        fi
    done
    return $failed
}

run() {
    local t failed=0
    [ $# -gt 0 ] || set -- "${TARGETS[@]}"
    mkdir -p "$SCRATCH/artifacts" && touch "$SCRATCH/artifacts/.run-started"
    for t in "$@"; do
        # New inputs go to a working corpus out of the tree; the committed one only seeds it.
        local work="$SCRATCH/corpus/$t" artifacts="$SCRATCH/artifacts/$t/"
        mkdir -p "$work" "$artifacts"
        [ -x "$(binary "$t")" ] || { echo "$(binary "$t") is missing: Fuzz/fuzz.sh build" >&2; exit 1; }
        echo "== $t for ${FUZZ_SECONDS}s on $FUZZ_JOBS worker(s); new inputs in $work, crashes in $artifacts"
        # A crash ends this target's run (with one worker) but not the others'.
        # shellcheck disable=SC2046
        "$(binary "$t")" $(flags "$t") -max_total_time="$FUZZ_SECONDS" \
            -print_final_stats=1 -artifact_prefix="$artifacts" \
            $([ "$FUZZ_JOBS" -gt 1 ] && echo "-fork=$FUZZ_JOBS -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1") \
            ${FUZZ_FLAGS:-} "$work" "Fuzz/corpus/$t" || failed=1
    done
    local found
    found=$(find "$SCRATCH/artifacts" -type f -newer "$SCRATCH/artifacts/.run-started" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) 2>/dev/null | sort)
    if [ -n "$found" ]; then
        echo "== inputs of this run to look at (Fuzz/fuzz.sh repro TARGET FILE):"; echo "$found"; failed=1
    fi
    return $failed
}

repro() {
    local t=$1; shift
    # shellcheck disable=SC2046
    "$(binary "$t")" $(flags "$t") "$@"
}

cmd=${1:-}; shift || true
case "$cmd" in
    build) build "$@" ;;
    smoke) mkdir -p "$SCRATCH"; smoke ;;
    run) run "$@" ;;
    repro) repro "$@" ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
esac
