#!/usr/bin/env bash
# One GPU lease, one script (issue #10 and #11): the device check, then fast styles trained on the GPU in parallel.
# On the device machine, from the repo root, with .device/ carried (VGG-19, train_256/, styles/):
#     OUT=/some/folder bash bench/gpu_session.sh            # full run (about 8 minutes on one H200)
#     QUICK=1 OUT=/tmp/x bash bench/gpu_session.sh          # tiny smoke test on a CPU
# Results: $OUT/gpu_check.json, $OUT/gpu_check.log, $OUT/lbfgs_cuda_graph.txt, $OUT/styles.tar (each style's .safetensors/.json + log).
set -u
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
VGG=.device/vgg19_caffe_to_relu5_1_fp16.pth
DEV=${DEV:-cuda}
if [ -n "${QUICK:-}" ]; then check_args="--quick --device $DEV"; train_args="--steps 2 --workers 0"; check_limit=300
else check_args="--device $DEV"; train_args="--max-minutes ${TRAIN_MINUTES:-3.5} --steps 1000000"; check_limit=${CHECK_LIMIT:-330}; fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null > "$OUT/nvidia_smi.txt"
# the CUDA-graph replay of Gatys' L-BFGS step against its eager steps (tests/test_lbfgs.py; skipped without CUDA)
timeout 120 $PY -m pytest -q -p no:cacheprovider tests/test_lbfgs.py -k "cuda_graph or stepper or storage" \
  > "$OUT/lbfgs_cuda_graph.txt" 2>&1 || true
timeout "$check_limit" $PY bench/gpu_check.py --out "$OUT/check" --vgg-weights "$VGG" --dataset .device/train_256 $check_args
cp "$OUT/check/gpu_check.json" "$OUT/check/gpu_check.log" "$OUT/" 2>/dev/null
mkdir -p "$OUT/styles"
train() {  # name painting content_weight style_weight
  $PY -m nst_core.train --style-image ".device/styles/$2" --dataset .device/train_256 --name "$1" \
    --out "$OUT/styles" --run-dir "$OUT/runs/$1" --overwrite --device "$DEV" --arch light --image-size 256 \
    --batch-size 8 --content-layers relu2_2,relu4_2 --content-weight "$3" --style-weight "$4" --tv-weight 100 \
    --style-size 448 --loss-net-weights "$VGG" --preview-image builtin --preview-every 0 --log-every 200 \
    --display-name "$5" --artist "$6" --title "$7" $train_args > "$OUT/styles/$1.log" 2>&1
}
train mondrian mondrian_composition.jpg 1.5 15 "Mondrian Grid" "Piet Mondrian" "Cubist grid composition (exact title unknown)" &
train mondrian_cw4 mondrian_composition.jpg 4 15 "Mondrian Grid" "Piet Mondrian" "Cubist grid composition (exact title unknown)" &
train composition_vii_gpu composition_vii.jpg 1.0 15 "Composition VII" "Wassily Kandinsky" "Composition VII" &
wait
tail -n 3 "$OUT"/styles/*.log
tar -C "$OUT" -cf "$OUT/styles.tar" styles && rm -rf "$OUT/styles" "$OUT/check" "$OUT/runs"
ls -la "$OUT"
