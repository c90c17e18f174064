#!/usr/bin/env bash
# Every GPU check of l2theory in one command: under 9 minutes on one H200 (each part has its own
# time limit, SIGINT then SIGKILL 5 s later; the limits add up to 500 s), at most 8 result files.
#
#   1. tests     the test suite on the GPU: pytest with $WORKERS xdist workers (default 12), no
#                GPU memory preallocation, each worker's memory capped           [T_TESTS=140 s]
#   2. training  benchmarks/bench_training.py --preset gpu: engine vs bare step, rows in order of
#                importance (FC, FC sweep of 16 lanes, WRN-28-10 bf16, 4 WRN-28-10 runs in one
#                program, bare WRN-28-10 bf16 without BatchNorm, WRN-28-10 fp32, WRN-16-4,
#                FC tf32, FC sweeps of 64/256 lanes); the JSON after each row [T_TRAINING=120 s]
#   3. collapse  benchmarks/bench_collapse.py: the paper FC t*-collapse panel (30 lanes, full
#                Fashion-MNIST) in one compiled program; target < 15 s          [T_COLLAPSE=60 s]
#   4. solvers   benchmarks/bench_solvers.py --krylov --preset gpu: n = 10,000 against eigh, and
#                n = 60,000 (all of Fashion-MNIST, 10,000 test points, 200 times, kernel
#                included); target < 60 s                                         [T_SOLVERS=90 s]
#   5. fig1      python -m l2theory.figures.fig1 --preset gpu --tiny:
#                the gpu preset's recipe (WRN-*-autol2 with BatchNorm, a batch in 8 BatchNorm
#                groups, momentum, crop + flip + mixup, lam = 0 and fixed lams, AutoL2 at the
#                authors' settings, 3 seeds) with a WRN-10-1-autol2 on 256 shipped images at
#                7x7, a smoke test [T_FIG1=90 s]. The full gpu preset (WRN-16-4-autol2 on all
#                of Fashion-MNIST, batch 1024 in groups of 128, about 7 min by its estimate)
#                does not fit in this check's 9 minutes beside the rest: FIG1_FULL=1 runs it
#                here instead (T_FIG1=480 s), or run it alone:
#                  python -m l2theory.figures.fig1 --preset gpu --out DIR
#
# Needs: jax with CUDA, optax, scipy, matplotlib, tqdm, pytest, pytest-xdist, mpmath; no
# network. Fashion-MNIST (FIG1_FULL=1 and the collapse part) in the git-ignored
# .data/fashion-mnist/ (the four IDX .gz files), or
# wherever $L2THEORY_DATA points. Run from anywhere:
#
#   bash benchmarks/gpu_check.sh                # results in $OUT (default benchmarks/results)
#   SMALL=1 OUT=/tmp/check bash benchmarks/gpu_check.sh   # every part at tiny size (CPU check)
#
# Files written to $OUT: gpu_check.log (all output), gpu_check.json (per part: status, seconds,
# key figures), bench_training.json, bench_collapse.json, bench_solvers.json, fig1.json,
# fig1.png. A summary table ends the log.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export L2THEORY_DATA=${L2THEORY_DATA:-$PWD/.data}
OUT=${OUT:-benchmarks/results}
SMALL=${SMALL:-0}
PY=${PYTHON:-python}
WORKERS=${WORKERS:-12}
mkdir -p "$OUT"
WORK=$(mktemp -d)
LOG="$OUT/gpu_check.log"
PARTS="$WORK/parts.tsv"
: > "$LOG"
: > "$PARTS"
START=$(date +%s)

say() { echo "$@" | tee -a "$LOG"; }

# part NAME LIMIT_S COMMAND: run COMMAND (bash) under a time limit (SIGINT first, so pytest and
# the benchmarks print what they have; SIGKILL 5 s later), output into the log; record the
# outcome in $PARTS.
part() {
  local name=$1 limit=$2 cmd=$3 t0 rc status
  say ""
  say "=== $name (limit ${limit} s): $cmd"
  mkdir -p "$WORK/$name"
  t0=$(date +%s)
  timeout -s INT -k 5 "$limit" bash -c "$cmd" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124|137) status=timeout ;;
    99) status=skipped ;;
    *) status="failed(rc=$rc)" ;;
  esac
  printf '%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" >> "$PARTS"
}

say "# gpu_check $(date -u +%FT%TZ) SMALL=$SMALL OUT=$OUT"
$PY -c "import jax, jaxlib, optax; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, \
'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$LOG"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  | tee -a "$LOG"

if [ "$SMALL" = 1 ]; then
  xdist=""
  $PY -c "import xdist" 2>/dev/null && xdist="-n 2"
  T_TESTS=${T_TESTS:-150} T_TRAINING=${T_TRAINING:-150} T_COLLAPSE=${T_COLLAPSE:-150}
  T_SOLVERS=${T_SOLVERS:-90} T_FIG1=${T_FIG1:-300}
  TESTS="$PY -m pytest -q -rfE -p no:cacheprovider $xdist tests/test_precision.py"
  TRAINING="$PY benchmarks/bench_training.py --preset tiny --out $WORK/training"
  COLLAPSE="$PY benchmarks/bench_collapse.py --small --variants figure --out $WORK/collapse"
  SOLVERS="$PY benchmarks/bench_solvers.py --krylov --preset cpu --sizes 300 --out $WORK/solvers"
  FIG1="$PY -m l2theory.figures.fig1 --preset gpu --tiny --out $WORK/fig1"
else
  T_TESTS=${T_TESTS:-140} T_TRAINING=${T_TRAINING:-120} T_COLLAPSE=${T_COLLAPSE:-60}
  if [ "${FIG1_FULL:-0}" = 1 ]; then T_FIG1=${T_FIG1:-480}; else T_FIG1=${T_FIG1:-90}; fi
  T_SOLVERS=${T_SOLVERS:-90}
  # workers share the GPU: no preallocation (each takes what it uses) and a cap per worker
  frac=$($PY -c "print(round(min(0.45, 0.9 / $WORKERS), 3))")
  if $PY -c "import xdist" 2>/dev/null; then xdist="-n $WORKERS"; else
    # without pytest-xdist the suite runs in one process (it may then hit T_TESTS; the log says)
    echo "!! pytest-xdist is not importable: the test part runs in one process" | tee -a "$LOG"
    xdist=""; frac=0.9
  fi
  TESTS="XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=$frac \
$PY -m pytest -q -rfE -p no:cacheprovider $xdist --durations=15"
  TRAINING="$PY benchmarks/bench_training.py --preset gpu --out $WORK/training"
  COLLAPSE="$PY benchmarks/bench_collapse.py --out $WORK/collapse"
  SOLVERS="$PY benchmarks/bench_solvers.py --krylov --preset gpu --out $WORK/solvers"
  tiny="--tiny"
  [ "${FIG1_FULL:-0}" = 1 ] && tiny=""
  FIG1="$PY -m l2theory.figures.fig1 --preset gpu $tiny --out $WORK/fig1"
fi

part tests "$T_TESTS" "$TESTS"
part training "$T_TRAINING" "$TRAINING"
part collapse "$T_COLLAPSE" "$COLLAPSE"
part solvers "$T_SOLVERS" "$SOLVERS"
part fig1 "$T_FIG1" "$FIG1"

# Collect at most 8 files into $OUT (one JSON per part; several JSONs of a part are merged).
$PY - "$WORK" "$OUT" "$LOG" "$START" "$SMALL" <<'EOF' 2>&1 | tee -a "$LOG"
import json, re, shutil, sys, time
from pathlib import Path

work, out, log, start, small = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5] == "1"
parts = [line.split("\t") for line in (work / "parts.tsv").read_text().splitlines()]
text = log.read_text(errors="replace")


def one_json(name, pattern="*.json"):
    files = sorted((work / name).rglob(pattern))
    if not files:
        return None
    data = {f.name: json.loads(f.read_text()) for f in files}
    merged = next(iter(data.values())) if len(data) == 1 else data
    (out / f"{'bench_' if name != 'fig1' else ''}{name}.json").write_text(
        json.dumps(merged, indent=2, default=str) + "\n")
    return merged


summary = {"small": small, "seconds_total": None, "parts": {}}
for name, status, seconds in parts:
    key = {}
    if name == "tests":
        m = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?) in [\d.]+s", text, re.M)
        key["pytest"] = m[-1] if m else None
        key["failed"] = sorted(set(re.findall(r"^FAILED (\S+)", text, re.M)))
    elif name == "training":
        d = one_json("training")
        if d:
            key["rows"] = {r["name"] + (f" x{r['lanes']}" if r["lanes"] > 1 else ""): {
                k: round(r[k], 3) for k in ("ratio", "ratio_gather") if k in r}
                | {f"{p}_ex_per_s": round(r[f"{p}_examples_per_s"]) for p in ("engine", "bare")
                   if f"{p}_examples_per_s" in r}
                for r in d["results"]}
            ratios = [r["ratio"] for r in d["results"] if "ratio" in r]
            key["min_ratio"] = round(min(ratios), 3) if ratios else None
    elif name == "collapse":
        d = one_json("collapse")
        if d:
            key["runs"] = [f"{r['variant']} {r['when']}: {r['seconds']:.1f} s "
                           f"({r['chunks']} chunk(s))" for r in d["results"]]
    elif name == "solvers":
        d = one_json("solvers")
        key["json"] = d is not None
    elif name == "fig1":
        files = sorted((work / "fig1").rglob("fig1.json"))
        if files:
            shutil.copy(files[0], out / "fig1.json")
            key["json"] = True
        pngs = sorted((work / "fig1").rglob("fig1.png"))
        if pngs:
            shutil.copy(pngs[0], out / "fig1.png")
    summary["parts"][name] = {"status": status, "seconds": int(seconds), **key}
summary["seconds_total"] = round(time.time() - start)
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")

print("\n=== summary")
print(f"{'part':<10} {'status':<14} {'seconds':>7}  result")
for name, p in summary["parts"].items():
    if name == "tests":
        res = f"{p.get('pytest')}; failed: {', '.join(p.get('failed') or []) or 'none'}"
    elif name == "training":
        res = f"min ratio {p.get('min_ratio')}; " + "; ".join(
            f"{k}: {v}" for k, v in (p.get("rows") or {}).items())
    elif name == "collapse":
        res = "; ".join(p.get("runs") or [])
    else:
        res = "json written" if p.get("json") else "-"
    print(f"{name:<10} {p['status']:<14} {p['seconds']:>7}  {res}")
print(f"total {summary['seconds_total']} s; files in {out}: "
      + ", ".join(sorted(f.name for f in out.iterdir() if f.name.startswith(
          ("gpu_check", "bench_training.json", "bench_collapse.json", "bench_solvers.json",
           "fig1")))))
EOF
rm -rf "$WORK"
