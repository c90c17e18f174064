#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (CPU only, no network beyond PyPI).
#   1. .venv with l2theory[test] (modern JAX): every test in tests/.
#   2. The pinned neural-tangents oracle environment (jax 0.4.23, numpy<2, scipy<1.13,
#      neural-tangents 0.6.5, tensorflow-cpu 2.15.1; ~2 GB, built once and cached in
#      $L2THEORY_ORACLE_VENV, default ~/.cache/l2theory/nt-venv): tests/oracle against it.
#      If it cannot be built, that is reported loudly and the run continues without it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"

# Real Fashion-MNIST for the tests that need the full files: an existing $L2THEORY_DATA wins,
# otherwise a shared/data folder next to the checkout (CI's layout) when present.
if [ -z "${L2THEORY_DATA:-}" ] && [ -d ../shared/data ]; then
  export L2THEORY_DATA="$(cd ../shared/data && pwd)"
fi

status=0
.venv/bin/python -m pytest -q -rs "$@" || status=$?

ORACLE=${L2THEORY_ORACLE_VENV:-$HOME/.cache/l2theory/nt-venv}
oracle_pkgs=(jax==0.4.23 jaxlib==0.4.23 "numpy<2" "scipy<1.13" neural-tangents==0.6.5
             tensorflow-cpu==2.15.1 "pytest<9" mpmath)
build_oracle() {
  rm -rf "$ORACLE" && "$PY" -m venv "$ORACLE" &&
    "$ORACLE/bin/python" -m pip install -q --upgrade pip >/dev/null &&
    "$ORACLE/bin/python" -m pip install -q "${oracle_pkgs[@]}"
}
if ! "$ORACLE/bin/python" -c "import neural_tangents" >/dev/null 2>&1; then
  echo "== building the neural-tangents oracle environment in $ORACLE (one time, ~2 GB)"
  build_oracle >/tmp/l2theory-oracle-build.log 2>&1 || true
fi
if "$ORACLE/bin/python" -c "import neural_tangents" >/dev/null 2>&1; then
  echo "== oracle tests against neural-tangents (pinned environment $ORACLE)"
  PYTHONPATH="$PWD" "$ORACLE/bin/python" -m pytest -q -p no:cacheprovider tests/oracle || status=$?
else
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!! ORACLE TESTS SKIPPED: the pinned neural-tangents environment could not be built."
  echo "!! fc_relu and the lam=0 solver were NOT checked against neural-tangents this run."
  echo "!! Build log: /tmp/l2theory-oracle-build.log"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
fi
exit $status
