#!/usr/bin/env bash
# The GPU checks in one run, on a machine whose python3 already has a CUDA
# build of JAX and the project's dependencies (no venv, no network):
#   make train, make bench, every lesson at its defaults, then the test suite.
# Each stage's output goes to $OUT/<stage>.log; $OUT/summary.txt gets one line
# per stage (exit status, seconds) and one per lesson. On an H200 the first
# three took about 7 minutes and the suite 3, so in calls of 10 minutes at most:
#
#   OUT=/tmp/gpu bash benchmarks/gpu_checks.sh train bench lessons
#   OUT=/tmp/gpu TEST_WORKERS=8 bash benchmarks/gpu_checks.sh tests
set -u
for name in "$@"; do
    case $name in
    train | bench | lessons | tests) ;;
    *) echo "unknown stage: $name (train, bench, lessons, tests)" >&2 && exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-checks}
TOTAL_S=${TOTAL_S:-560}  # the tests get what the stages before them leave of this
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# Several processes share the GPU (the tests' workers): none takes 75 % up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
# make's recipes, with this python3 and its venv step marked as done.
MAKE=(make PY=python3 JAX_EXTRA=cuda12 VENV=/nonexistent -o /nonexistent/.installed-cuda12)

stage() {  # stage NAME LIMIT_S COMMAND...: run it under a time limit, log it
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    timeout -s INT -k 10 "$limit" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    echo "$name rc=$rc $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
}

lessons() {  # every lesson at its defaults, each timed
    local l start rc
    for l in $(python3 -m trinity_foundations.catalogue); do
        start=$SECONDS
        echo "== $l"
        python3 "lessons/$l.py" || { rc=$?; echo "!! $l exit $rc"; }
        echo "   $l $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
        if [[ ${rc:-0} == 130 ]]; then return 130; fi  # the stage's time ran out
    done
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    nproc
    python3 -c 'import jax, jaxlib, numpy, optax; print("jax", jax.__version__,
        "jaxlib", jaxlib.__version__, "numpy", numpy.__version__, "optax", optax.__version__,
        jax.devices())'
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

export -f lessons
for name in ${@:-train bench lessons tests}; do
    case $name in
    train) stage train 150 "${MAKE[@]}" train ;;
    bench) stage bench 120 "${MAKE[@]}" bench ARGS="--json $OUT/bench.json --out /tmp/bench-png" ;;
    lessons) stage lessons 420 bash -c lessons ;;
    tests)
        left=$((TOTAL_S - SECONDS))
        stage tests $((left > 30 ? left : 30)) python3 -m pytest -n "${TEST_WORKERS:-8}" \
            --dist loadfile -rfE
        tail -n 40 "$OUT/tests.log"
        ;;
    esac
done
