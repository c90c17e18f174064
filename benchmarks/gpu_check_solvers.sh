#!/usr/bin/env bash
# GPU check of the matrix-free MSE solver (L2GradientFlow(method="krylov")), a few minutes on one
# H100/H200: benchmarks/bench_solvers.py --krylov --preset gpu, i.e.
#   n = 10,000: krylov against eigh (float64), and krylov in float32;
#   n = 60,000 (the full Fashion-MNIST training set), 10,000 test points, 200 times: krylov in
#   float64 and float32, kernel (kernels.kernel_matrix in tiles) included in the total, first
#   (compiling) and second call; errors against krylov at tol 1e-12 (eigh does not fit).
# Target (issue 11): n = 60,000 in under 60 s on one H200, kernel included.
#
# Needs jax with CUDA; no network. Fashion-MNIST must be on the machine, e.g. in the git-ignored
# folder .data/fashion-mnist/ (the four IDX .gz files, 30 MB), found via $L2THEORY_DATA:
#   mkdir -p .data && cp -r /usr/share/datasets/fashion-mnist .data/   # or any copy of the files
#   bash benchmarks/gpu_check_solvers.sh
# Results (JSON, log) go to $OUT (default benchmarks/results).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
export PYTHONUNBUFFERED=1
export L2THEORY_DATA=${L2THEORY_DATA:-$PWD/.data}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
python -c "import jax; print('jax', jax.__version__, jax.devices())"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv || true
timeout 540 python benchmarks/bench_solvers.py --krylov --preset gpu --out "$OUT" 2>&1 \
  | tee "$OUT/gpu_solvers.log"
