#!/usr/bin/env bash
# Every GPU figure in one command, for a machine with an NVIDIA GPU lent for a short while:
# bench/gpu.py (number formats, CUDA graphs, file speed against NeMo, release to final),
# bench/wake.py (giving the GPU's memory back and waking), bench/streaming.py with the GPU
# streaming preset (the buffered 0.6B v3 twin beside the cache-aware nemotron-speech-streaming
# twin at each of its steps), bench/service.py on the 0.6B twin and bench/diarization.py; sizes chosen to finish in under
# 8 minutes on one GPU (a guess: not yet timed on one). Each bench's JSON goes to <name>.json,
# its stderr to <name>.log, in $OUT when set (else bench-results/<time>). A bench that fails does not stop the others; the
# exit status says whether all ran.
#
#   bench/on-gpu.sh            the GPU run
#   bench/on-gpu.sh --smoke    the same benches at their smallest, on the CPU (CI runs this)
set -uo pipefail
cd "$(dirname "$0")/.."

smoke=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
elif [ $# -gt 0 ]; then
  echo "usage: bench/on-gpu.sh [--smoke]" >&2
  exit 2
fi
out="${OUT:-bench-results/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi

failed=()
run() {
  local name=$1
  shift
  local start=$SECONDS
  echo "== bench/$name.py $*" >&2
  if "$python" "bench/$name.py" "$@" >"$out/$name.json" 2>"$out/$name.log"; then
    echo "   done in $((SECONDS - start)) s" >&2
  else
    echo "   FAILED after $((SECONDS - start)) s; the end of $out/$name.log:" >&2
    tail -n 20 "$out/$name.log" >&2
    failed+=("$name")
  fi
}

if [ $smoke -eq 1 ]; then
  run gpu --smoke
  run wake --smoke --rounds 1
  run streaming --smoke --utterances 1 --steps 160,560
  run service --smoke
  run diarization --smoke
else
  "$python" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU: use --smoke'" || exit 1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/nvidia-smi.csv" 2>&1 || true
  run gpu
  run wake --rounds 3
  run streaming --device cuda --models tiny,sparse-twin,streaming-twin --utterances 4
  run service --models twin --file-seconds 60 --repeats 2 --requests 8
  run diarization --device cuda --minutes 10 --long-minutes 60
fi

echo "figures in $out" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
