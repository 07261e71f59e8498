#!/usr/bin/env bash
# One short GPU check of the trainer (≤ ~9 min): CUDA tests (bf16), then moe-small with torch.compile on
# synthetic tokens, reporting tokens/s, MFU and expert load max/mean after warm-up. Outputs go to $OUT.
# Usage (repo root, on the GPU machine):  OUT=/some/dir bash benchmarks/gpu_check.sh
set -euo pipefail
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
exec > >(tee -a "$LOG") 2>&1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}" PYTHONUNBUFFERED=1
STEPS="${STEPS:-150}"
# γ for the balancing biases: DeepSeek-V3's 0.001 is meant for many thousands of steps; a 150-step check
# needs a larger step to reach the balanced state (BENCHMARKS.md "GPU: moe-small on one H200").
BIAS_RATE="${BIAS_RATE:-0.01}"
echo "== gpu_check $(date -u +%FT%TZ) on $(hostname); nproc $(nproc); $(free -g | awk '/Mem:/{print $2" GiB RAM"}')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# Pick a python whose torch sees the GPU (the carried .venv is usually a CPU build).
PY=""
for cand in "${PYTHON:-}" python3 python .venv/bin/python; do
  [ -n "$cand" ] || continue
  command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ] || continue
  if timeout 120 "$cand" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    PY="$cand"; break
  fi
done
if [ -z "$PY" ]; then
  echo "no python with CUDA torch found; trying pip install torch (needs a package index)"
  timeout 300 python3 -m pip install --quiet torch && PY=python3 || { echo '{"error": "no CUDA torch"}' > "$OUT/gpu_check.json"; exit 2; }
fi
echo "python: $PY; $($PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))')"
# Trainer dependencies other than torch, installed only if missing: from wheels carried in .whl/ when
# the machine has no package index (see benchmarks/README or BENCHMARKS.md "GPU check").
if ! timeout 60 "$PY" -c "import pydantic, yaml, safetensors, tokenizers, pyarrow, numpy, pytest" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu_check_site .whl/*.whl
    export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
  else
    timeout 120 "$PY" -m pip install --quiet --retries 0 --timeout 10 "pydantic>=2.6" pyyaml safetensors tokenizers pyarrow numpy pytest || true
  fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

status=0
echo "== 1/2 trainer tests on cuda (bf16) and CPU"
timeout 150 "$PY" -m pytest -q -p no:cacheprovider tests/test_trainer_cuda.py tests/test_trainer_model.py \
  -o addopts="" -s --junitxml="$OUT/tests.xml" || status=$?
echo "tests exit: $status"

echo "== 2/2 moe-small, torch.compile, bf16, $STEPS steps on synthetic tokens"
bstatus=0
timeout 330 "$PY" -m benchmarks.train_speed --device cuda --configs small --impls auto --compile \
  --steps "$STEPS" --batch 32 --micro 16 --seq-len 2048 --vocab 32768 --bias-update-rate "$BIAS_RATE" \
  --out "$OUT/gpu_check.json" || bstatus=$?
if [ "$bstatus" -ne 0 ]; then
  echo "== compiled run failed ($bstatus); eager fallback, 60 steps"
  bstatus=0
  timeout 120 "$PY" -m benchmarks.train_speed --device cuda --configs small --impls auto \
    --steps 60 --batch 32 --micro 16 --seq-len 2048 --vocab 32768 --bias-update-rate "$BIAS_RATE" \
    --out "$OUT/gpu_check_eager.json" || bstatus=$?
fi
echo "benchmark exit: $bstatus"
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader || true
[ "$status" -eq 0 ] && [ "$bstatus" -eq 0 ]
