#!/usr/bin/env bash
# The GPU path, run for real: the commands behind the GPU figures in the README, one step per call so that each fits
# a 10-minute slot. Runs from the project root on a machine with an NVIDIA GPU and vLLM's CUDA build importable
# (`make smoke` there, or PYTHONPATH with vLLM as ../shared/tools/gpu-vllm-payload sets it up).
#
#   benchmarks/gpu_validation.sh STEP [OUTDIR]      STEP: tiny | shape | suite | harness     OUTDIR default: gpu-out
#
#   tiny     the default choice on this machine (header only: llama3.1-8b, or the tiny fallback and why), then
#            `bench run llm_throughput --profile tiny` on the GPU
#   shape    `bench build-model --shape llama3.1-8b` (no weights), then `bench run llm_throughput --profile
#            llama3.1-8b --model DIR --engine-arg load_format=dummy --full`
#   suite    `pytest -m smoke --profile llama3.1-8b --model DIR --engine-arg load_format=dummy
#            -k "llm_throughput or resnet50"`
#   harness  benchmarks/harness_vs_vllm.py on the 8B shape: HARNESS_ROUNDS alternating rounds (2), HARNESS_PROMPTS
#            prompts (300) and HARNESS_PASSES timed passes per process (2): one round is two fresh processes, ~3 min
#            on an H200 (load + compile ~90 s each), so 2 rounds fit one 10-minute slot; run it again for more rounds
#
# Each step copies its results.json / summary.md (and the harness JSON) to OUTDIR as <step>-*.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:?usage: benchmarks/gpu_validation.sh tiny|shape|suite|harness [OUTDIR]}
out=${2:-gpu-out}
work=${GPU_VALIDATION_WORK:-/tmp/kcloud-gpu-validation}
shape=$work/llama3.1-8b-shape
py=${PYTHON:-python3}
mkdir -p "$out" "$work"
say() { printf '[gpu-validation] %s\n' "$*"; }
rc=0
keep() {  # keep STEP RUN_DIR: the run's results.json and summary.md (also when a gate failed)
  cp "$2/results.json" "$out/$1-results.json" && cp "$2/summary.md" "$out/$1-summary.md" || rc=1
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,temperature.gpu --format=csv,noheader || true

case $step in
  tiny)
    say "the default choice here (no --profile, no --model): collect only"
    "$py" -m pytest -m smoke --collect-only -p no:cacheprovider --results-dir="$work/collect" 2>&1 \
      | grep -E '^  (profile|warning|engine|device):' || true
    say "bench run llm_throughput --profile tiny"
    "$py" -m bench.cli run llm_throughput --profile tiny --results-dir "$work/tiny" || rc=$?
    keep tiny "$work/tiny/latest"
    ;;
  shape)
    [[ -f $shape/config.json ]] || "$py" -m bench.cli build-model --shape llama3.1-8b "$shape"
    say "bench run llm_throughput --profile llama3.1-8b --model $shape --engine-arg load_format=dummy --full"
    "$py" -m bench.cli run llm_throughput --profile llama3.1-8b --model "$shape" --engine-arg load_format=dummy \
      --full --results-dir "$work/shape" || rc=$?
    keep shape "$work/shape/latest"
    ;;
  suite)
    [[ -f $shape/config.json ]] || "$py" -m bench.cli build-model --shape llama3.1-8b "$shape"
    # path options with "=": this Python runs the checkout from PYTHONPATH, without the package's pytest11 entry point
    # (bench/pytest_plugin.py), and without it pytest takes a separate existing path for a test path
    "$py" -m pytest -m smoke -p no:cacheprovider --profile llama3.1-8b --model="$shape" \
      --engine-arg load_format=dummy -k "llm_throughput or resnet50" --results-dir="$work/suite" || rc=$?
    keep suite "$work/suite/latest"
    ;;
  harness)
    [[ -f $shape/config.json ]] || "$py" -m bench.cli build-model --shape llama3.1-8b "$shape"
    "$py" benchmarks/harness_vs_vllm.py --profile llama3.1-8b --model "$shape" --engine-arg load_format=dummy \
      --rounds "${HARNESS_ROUNDS:-2}" --num-prompts "${HARNESS_PROMPTS:-300}" --passes "${HARNESS_PASSES:-2}" \
      --json "$out/harness.json" || rc=$?
    ;;
  *)
    say "unknown step $step: tiny | shape | suite | harness"
    exit 2
    ;;
esac
exit "$rc"
