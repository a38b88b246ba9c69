#!/usr/bin/env bash
# One GPU session's work for issue 5, in phases (each resumable, each bounded in time):
#   bench  GPU inference (eager vs optimised vs optimised fp16, every 16x16 preset, batch 1 and 16) and
#          training throughput (batch 32; fp32 and bf16 + channels_last)
#   train  full-size SPARNet (configs/sparnet_lfw_code.yaml, the released code's recipe) for MINUTES,
#          resuming the run in runs/sparnet_lfw_code if there is one; bf16 autocast + channels_last (what
#          the README's run used; PRECISION=fp32 CHANNELS_LAST=false for the format the GPU benchmark
#          found as fast)
#   eval   the run's weights on Helen-50 (protocols facesr and dic)
# usage: bash benchmarks/gpu_session.sh OUT_DIR DATA_DIR "bench train eval" [MINUTES]
# DATA_DIR holds lfw_train.webpz / lfw_val.webpz (tools/pack_cache.py) or the caches already unpacked,
# and helen_test50_fsrnet/. Run from the repository root with a python3 whose torch sees the GPU
# (PYTHON=... and DEVICE=cpu to try the train and eval phases without one).
set -u
OUT=${1:?out dir}; DATA=${2:?data dir}; PHASES=${3:-"bench train eval"}; MIN=${4:-5}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}; DEV=${DEVICE:-cuda}
step() { echo "=== $(date -u +%H:%M:%S) $*"; }
for ph in $PHASES; do
  case $ph in
  bench)
    step env
    { nvidia-smi; $PY -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"; nproc; } > "$OUT/env.txt" 2>&1
    step bench_inference
    timeout 240 $PY benchmarks/bench_inference.py --device cuda --repeats 30 --repeats16 10 --warmup 5 \
      -o "$OUT/inference_gpu.md" || echo "bench_inference failed ($?)"
    step bench_train fp32
    timeout 120 $PY benchmarks/bench_train.py --device cuda --batch 32 --steps 20 --warmup 3 \
      -o "$OUT/train_gpu_fp32.md" || echo "bench_train fp32 failed ($?)"
    step bench_train bf16 channels_last
    timeout 120 $PY benchmarks/bench_train.py --device cuda --batch 32 --steps 20 --warmup 3 --precision bf16 \
      --channels-last -o "$OUT/train_gpu_bf16_cl.md" || echo "bench_train bf16 failed ($?)"
    ;;
  train)
    for s in train val; do
      if [ ! -f cache/lfw_${s}_c136_128.npy ]; then
        $PY tools/pack_cache.py unpack "$DATA/lfw_$s.webpz" cache/lfw_${s}_c136_128.npy || exit 1
      fi
    done
    R=""; [ -f runs/sparnet_lfw_code/checkpoints/last/state.pt ] && R="--resume"
    step train $R for $MIN min
    $PY -m facesr.cli train -c sparnet_lfw_code $R -q data.train.root=null data.val.root=null \
      train.precision="${PRECISION:-bf16}" train.channels_last="${CHANNELS_LAST:-true}" data.train.workers=8 train.max_minutes="$MIN" \
      || echo "train failed ($?)"
    cp runs/sparnet_lfw_code/log.jsonl "$OUT/train_log.jsonl" 2>/dev/null
    ;;
  eval)
    step eval
    W=runs/sparnet_lfw_code/checkpoints/last/model.safetensors
    $PY -m facesr.cli eval -m "$W" --data "$DATA/helen_test50_fsrnet" --protocol facesr dic --device "$DEV" \
      -o "$OUT/eval_helen" || echo "eval failed ($?)"
    ;;
  esac
done
step done
