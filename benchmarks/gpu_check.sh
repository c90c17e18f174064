#!/usr/bin/env bash
# GPU check of the training engine (l2theory.train), about 5 minutes on one H100/H200:
#   1. benchmarks/bench_training.py --preset gpu: engine step vs a bare JAX step for WRN-28-10,
#      WRN-16-4 (batch 128, fp32 and bf16), FC 784-2048x3-10, FC sweeps of 16/64/256 lanes;
#   2. a short real Fashion-MNIST sweep (12 runs in one compiled program) through the CLI.
#
# Needs jax with CUDA, optax, tqdm; no network. Fashion-MNIST must be on the machine, e.g. in the
# git-ignored folder .data/fashion-mnist/ (the four IDX .gz files), found via $L2THEORY_DATA:
#   mkdir -p .data && cp -r /usr/share/datasets/fashion-mnist .data/   # or any copy of the files
#   bash benchmarks/gpu_check.sh
# Results (JSON, CSV, log) go to $OUT (default benchmarks/results).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
export L2THEORY_DATA=${L2THEORY_DATA:-$PWD/.data}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
python -c "import jax, jaxlib, optax; print('jax', jax.__version__, 'optax', optax.__version__, jax.devices())"

timeout 270 python benchmarks/bench_training.py --preset gpu --out "$OUT" 2>&1 | tee "$OUT/gpu_bench.log"

sweep_dir=$(mktemp -d)
timeout 150 python -m l2theory sweep --dataset fashion_mnist --standardize \
  --model fc --depth 3 --width 512 --batch-size 128 --eval-every 500 \
  --lam 1e-4 1e-3 1e-2 --lr 0.5 2 --seeds 0 1 --natural-time 0.5 \
  --no-progress --out "$sweep_dir" 2>&1 | tee "$OUT/gpu_sweep.log"
cp "$sweep_dir/results.csv" "$OUT/gpu_sweep_results.csv"
cp "$sweep_dir/environment.json" "$OUT/gpu_sweep_environment.json"
