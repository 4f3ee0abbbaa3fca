#!/usr/bin/env bash
# Set up (or reuse) the project's virtual environment at .venv/ and the embedded tiny model.
#
#   scripts/setup.sh          runtime: vLLM (CUDA build with a GPU, CPU build without), the `bench` command and
#                             everything the benchmark suite needs to run (pytest included: `make smoke` needs no more)
#   scripts/setup.sh --dev    + test tools (ruff, the kubernetes client) and the Ansible test stack (apt-get)
#
# Idempotent: a stamp keyed on pyproject.toml and this script skips pip when nothing changed (a --dev install also
# satisfies the runtime set-up).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=runtime
[[ "${1:-}" == "--dev" ]] && mode=dev
say() { printf '[setup] %s\n' "$*"; }

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  say "error: Python >= 3.11 is required ($python is $("$python" -V 2>&1 || echo missing)); set PYTHON=/path/to/python3.11"
  exit 2
fi

if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $("$python" -V)"
  "$python" -m venv .venv || { say "error: 'python3 -m venv' failed: install python3-venv (apt-get install python3-venv)"; exit 2; }
fi

if [[ "${KCLOUD_ENGINE:-}" == "cpu" || "${KCLOUD_ENGINE:-}" == "gpu" ]]; then
  engine=$KCLOUD_ENGINE; why="KCLOUD_ENGINE=$KCLOUD_ENGINE"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  engine=gpu; why="nvidia-smi sees a GPU"
else
  engine=cpu; why="no NVIDIA GPU found"
fi
extras=$engine
[[ $mode == dev ]] && extras="$engine,dev"
[[ $mode == dev && -f tests/ansible/REQUIREMENTS.txt ]] && extras="$extras,ansible"

key=$(cat pyproject.toml "$0" | sha256sum | cut -c1-12)
stamp=".venv/.setup-$key-${extras//,/-}"
have=$stamp
if [[ ! -f $have && $mode == runtime ]]; then  # a --dev install of the same engine holds the runtime's extras too
  have=$(compgen -G ".venv/.setup-$key-$engine-*" | head -1 || true)
fi
if [[ -n $have && -f $have ]]; then
  say ".venv is up to date ($(basename "$have" | cut -d- -f3- | tr - ,))"
else
  say "installing kcloud-mlperf[$extras] into .venv ($why; vLLM's $engine build) — first run takes a few minutes, log: .venv/setup.log"
  .venv/bin/python -m pip install --upgrade --quiet pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -m pip install -e ".[$extras]" >.venv/setup.log 2>&1; then
    grep -v '^WARNING: Location' .venv/setup.log | tail -20
    say "error: pip install failed (full log: .venv/setup.log)"
    exit 1
  fi
  if [[ $engine == cpu ]]; then
    # PyPI's torchvision/torchaudio/torchcodec do not import beside vLLM's CPU torch and break `transformers`.
    .venv/bin/python -m pip uninstall -y torchvision torchaudio torchcodec >>.venv/setup.log 2>&1 || true
  fi
  for tool in bench pytest; do
    [[ -x .venv/bin/$tool ]] || { say "error: .venv/bin/$tool is missing after the install (log: .venv/setup.log)"; exit 1; }
  done
  rm -f .venv/.setup-*
  touch "$stamp"
  say "done: $(.venv/bin/bench --help >/dev/null && echo '.venv/bin/bench and .venv/bin/pytest are ready')"
fi

if [[ $mode == dev && -x scripts/setup-ansible.sh ]]; then
  scripts/setup-ansible.sh
fi

say "tiny model: $(.venv/bin/bench build-model)"
