"""Claims decided by confidence intervals: an estimate, its interval, the number of samples and a
verdict that can fail (``docs/conventions.md`` section 7: a claim is a number with its noise).

The verdicts (one vocabulary for the package and its figures' reports):

- ``PASS``: the whole interval lies where the claim says (above 0; inside the band);
- ``FAIL``: the whole interval lies where the claim says it does not (below 0; outside the band);
- ``TIE``: the interval straddles a boundary: inconclusive at this size;
- ``n/a``: nothing to judge (fewer than two samples: no noise estimate, see ``claim_greater``).

Intervals are two-sided at ``level`` (0.95 by default): Student-t for means of independent
samples (``claim_greater``, ``claim_within``), Welch's for a difference of two unpaired means, and
a bootstrap where no t-interval fits (``claim_greater_crossed``: a mean difference over seeds and
the images of one shared test set; ``bootstrap_claim``: any statistic of seeds, e.g. a ratio of
means). ``claim_exact`` judges a number computed without sampling noise (an exact solver's output).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from l2theory import _checks

PASS, FAIL, TIE, NA = "PASS", "FAIL", "TIE", "n/a"
VERDICTS = (PASS, FAIL, TIE, NA)
METHODS = ("t", "welch", "bootstrap", "exact")


@dataclasses.dataclass(frozen=True)
class Claim:
    """The decision on one relation: ``verdict`` (``PASS``, ``FAIL``, ``TIE`` or ``n/a``), the
    ``estimate``, its two-sided interval ``ci`` (``(low, high)`` at ``level``; None without a
    noise estimate), the number of samples ``n`` (seeds, lanes; for an unpaired comparison both
    groups together) and how the interval was made (``method``: ``"t"``, ``"welch"``,
    ``"bootstrap"`` or ``"exact"``)."""

    verdict: str
    estimate: float | None
    ci: tuple[float, float] | None
    n: int
    level: float = 0.95
    method: str = "t"

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise _checks.bad("verdict", self.verdict, "not a verdict",
                              f"use one of {', '.join(VERDICTS)}")
        if self.method not in METHODS:
            raise _checks.bad("method", self.method, "unknown interval method",
                              f"use one of {', '.join(METHODS)}")
        if self.ci is not None:
            object.__setattr__(self, "ci", (float(self.ci[0]), float(self.ci[1])))

    def to_json(self) -> dict:
        """The fields as a JSON-ready dict (``from_json`` reads it back)."""
        return {"verdict": self.verdict, "estimate": self.estimate,
                "ci": None if self.ci is None else list(self.ci), "n": self.n,
                "level": self.level, "method": self.method}

    @classmethod
    def from_json(cls, d: dict) -> "Claim":
        return cls(d["verdict"], d["estimate"], None if d["ci"] is None else tuple(d["ci"]),
                   int(d["n"]), float(d["level"]), d.get("method", "t"))


def verdict_of(ci: Sequence[float] | None, low: float, high: float) -> str:
    """The verdict of an interval against the band ``[low, high]`` (inclusive; ``-inf``/``inf``
    for a one-sided band): ``PASS`` inside, ``FAIL`` entirely outside, ``TIE`` across an edge,
    ``n/a`` without an interval."""
    if ci is None:
        return NA
    lo, hi = ci
    if low <= lo and hi <= high:
        return PASS
    if hi < low or lo > high:
        return FAIL
    return TIE


def _level(level) -> float:
    return _checks.real("level", level, low=0.0, high=1.0, low_open=True, high_open=True,
                        fix="e.g. 0.95")


def _values(name: str, values) -> np.ndarray:
    """A 1-D float64 array of ``values`` with None and NaN dropped (missing runs)."""
    if np.ndim(values) == 0:
        raise _checks.bad(name, values, "must be a sequence of numbers",
                          "pass one value per seed, e.g. [0.71, 0.73]")
    v = np.array([np.nan if x is None else x for x in np.ravel(np.asarray(values, object))],
                 np.float64)
    if np.any(np.isinf(v)):
        raise _checks.bad(name, values, "holds an infinite value", "drop failed runs first")
    return v


def t_interval(x: np.ndarray, level: float) -> tuple[float, tuple[float, float] | None]:
    """Mean of ``x`` and its two-sided Student-t interval ``mean -+ t_{n-1} s / sqrt(n)`` (no
    interval with fewer than two values)."""
    from scipy import stats

    n = len(x)
    mean = float(np.mean(x)) if n else None
    if n < 2:
        return mean, None
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * np.std(x, ddof=1) / math.sqrt(n))
    return mean, (mean - half, mean + half)


def claim_greater(a, b, *, paired: bool = True, level: float = 0.95) -> Claim:
    """Is ``a`` greater than ``b``, beyond the noise?

    ``paired=True``: ``a[i]`` and ``b[i]`` belong together (one seed: the same initialization,
    minibatches and test set); ``estimate`` is the mean of ``d = a - b`` and ``ci`` its Student-t
    interval ``mean(d) -+ t_{n-1, (1+level)/2} std(d, ddof=1) / sqrt(n)``; pairs with a missing
    value (None or NaN: a diverged run) are dropped. ``paired=False``: ``estimate = mean(a) -
    mean(b)`` with Welch's interval (standard error ``sqrt(s_a^2/n_a + s_b^2/n_b)``,
    Welch-Satterthwaite degrees of freedom); ``n = n_a + n_b``.

    ``verdict``: ``PASS`` when the interval lies above 0, ``FAIL`` when below, ``TIE`` otherwise;
    ``n/a`` with fewer than two pairs (unpaired: fewer than two values in either group): with one
    sample there is no noise estimate, so neither the interval nor the verdict exists (``TIE``
    would claim the difference is inside the noise, which one sample cannot tell).

    Example:
      >>> c = claim_greater([0.74, 0.75, 0.73], [0.70, 0.72, 0.70])
      >>> c.verdict, round(c.estimate, 4), c.n
      ('PASS', 0.0333, 3)
    """
    level = _level(level)
    a, b = _values("a", a), _values("b", b)
    if paired:
        if len(a) != len(b):
            raise _checks.bad("b", b, f"has {len(b)} values, a has {len(a)}",
                              "pass one value per seed in both, or paired=False")
        d = a - b
        d = d[np.isfinite(d)]
        est, ci = t_interval(d, level)
        return Claim(verdict_of(ci, 0.0, math.inf), est, ci, len(d), level, "t")
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n = len(a) + len(b)
    if len(a) == 0 or len(b) == 0:
        return Claim(NA, None, None, n, level, "welch")
    est = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Claim(NA, est, None, n, level, "welch")
    from scipy import stats

    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        ci = (est, est)
    else:
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = float(stats.t.ppf((1 + level) / 2, df) * se)
        ci = (est - half, est + half)
    return Claim(verdict_of(ci, 0.0, math.inf), est, ci, n, level, "welch")


def claim_within(samples, low: float, high: float, *, level: float = 0.95,
                 log: bool = False) -> Claim:
    """Does the mean of ``samples`` lie in ``[low, high]``, beyond the noise?

    ``estimate`` is the mean of ``samples`` and ``ci`` its Student-t interval (as in
    ``claim_greater``); with ``log=True`` both are computed on ``ln(samples)`` (which must be
    ``> 0``: ratios) and reported back as ratios, ``exp(mean ln x)`` (the geometric mean) and
    ``exp`` of the interval's ends, and ``low``/``high`` are ratios too. Missing values (None,
    NaN) are dropped.

    ``verdict``: ``PASS`` when the interval lies inside ``[low, high]`` (inclusive; ``-inf`` or
    ``inf`` make a one-sided band), ``FAIL`` when it lies entirely outside, ``TIE``
    (inconclusive) otherwise; ``n/a`` with fewer than two samples (no noise estimate, as in
    ``claim_greater``).

    Example:
      >>> c = claim_within([0.95, 1.02, 0.99, 1.01], 0.8, 1.2)
      >>> c.verdict, round(c.estimate, 4)
      ('PASS', 0.9925)
      >>> claim_within([1.9, 2.1, 2.0], 0.5, 1.5).verdict
      'FAIL'
    """
    level = _level(level)
    x = _values("samples", samples)
    x = x[np.isfinite(x)]
    low, high = float(low), float(high)
    if not low <= high:
        raise _checks.bad("high", high, f"is below low={low}", "pass low <= high")
    if log:
        if np.any(x <= 0):
            raise _checks.bad("samples", samples, "holds a value <= 0, which has no log",
                              "pass ratios (> 0), or log=False")
        if low < 0:
            raise _checks.bad("low", low, "is a ratio bound below 0 with log=True",
                              "pass low >= 0 (0 for no lower bound)")
        m, ci = t_interval(np.log(x), level)
        est = None if m is None else math.exp(m)
        ci = None if ci is None else (math.exp(ci[0]), math.exp(ci[1]))
    else:
        est, ci = t_interval(x, level)
    return Claim(verdict_of(ci, low, high), est, ci, len(x), level, "t")


def claim_exact(value: float | None, low: float, high: float) -> Claim:
    """A number computed without sampling noise (an exact solver's output, to its tolerance)
    against ``[low, high]``: the interval is the value itself, ``n = 1``, ``method="exact"``;
    ``PASS`` inside, ``FAIL`` outside, ``n/a`` for None."""
    if value is None:
        return Claim(NA, None, None, 0, 1.0, "exact")
    v = float(value)
    return Claim(verdict_of((v, v), low, high), v, (v, v), 1, 1.0, "exact")


def _percentile(boot: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def claim_greater_crossed(a, b, *, level: float = 0.95, n_boot: int = 2000,
                          rng_seed: int = 0) -> Claim:
    """Is ``a`` greater than ``b`` on average over seeds *and* over the items of one shared test
    set? A crossed bootstrap, so a difference of a few test images is not a win.

    ``a``, ``b``: ``[n_seeds, n_items]`` per-item scores of the two arms (e.g. 1 for a test
    image classified correctly, else 0; or per-image losses), paired by seed (row) and by item
    (column): every seed of both arms is scored on the same items. ``estimate`` = the mean over
    seeds and items of ``a - b`` (the difference of mean accuracies). Two sources of noise enter:
    the seeds (initialization, minibatch order) and the test set (a finite draw of images, shared
    by every seed). Each of ``n_boot`` replicates draws ``n_seeds`` seeds with replacement and,
    independently, ``n_items`` items with replacement - the same items for every seed and both
    arms, since one test set serves them all - and recomputes the mean difference. The interval
    is ``estimate -+ t_{n_seeds-1, (1+level)/2} * sd`` with ``sd`` the replicates' standard
    deviation (the Student-t factor of the seed count corrects the bootstrap's narrowness with
    few seeds; the coverage is tested by simulation in ``tests/test_claims.py``). With one seed
    only the items are resampled and the normal factor is used.

    ``verdict`` as in ``claim_greater``; ``n`` is the number of seeds; ``n/a`` without items.
    The bootstrap needs discordant items: with very few of them (a handful of images that one
    arm gets right and the other wrong, identical in every seed) it is too narrow.
    """
    from scipy import stats

    level = _level(level)
    n_boot = _checks.positive_int("n_boot", n_boot, minimum=10)
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise _checks.bad("b", b, f"a and b must be [n_seeds, n_items] arrays of one shape, got "
                          f"{a.shape} and {b.shape}", "pass one row of per-item scores per seed")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise _checks.bad("a", a, "holds a non-finite score", "drop the diverged seeds first")
    n_seeds, n_items = a.shape
    if n_seeds == 0 or n_items == 0:
        return Claim(NA, None, None, n_seeds, level, "bootstrap")
    d = a - b
    est = float(d.mean())
    rng = np.random.default_rng(rng_seed)
    boot = np.empty(n_boot)
    for r in range(n_boot):
        rows = rng.integers(0, n_seeds, n_seeds) if n_seeds > 1 else np.zeros(1, np.int64)
        cols = rng.integers(0, n_items, n_items)
        boot[r] = d[rows][:, cols].mean()
    crit = (stats.t.ppf((1 + level) / 2, n_seeds - 1) if n_seeds > 1
            else stats.norm.ppf((1 + level) / 2))
    half = float(crit * np.std(boot, ddof=1))
    ci = (est - half, est + half)
    return Claim(verdict_of(ci, 0.0, math.inf), est, ci, n_seeds, level, "bootstrap")


def bootstrap_claim(statistic: Callable[[np.ndarray], float], n: int, low: float, high: float,
                    *, level: float = 0.95, n_boot: int = 2000, rng_seed: int = 0) -> Claim:
    """A statistic of ``n`` seeds that no t-interval fits (a ratio of means, a spread max/min)
    against ``[low, high]``: ``statistic(idx)`` computes it from the seeds ``idx`` (an int
    array, with repeats); ``estimate = statistic(arange(n))``; each replicate draws ``n`` seeds
    with replacement; ``ci`` the percentile interval of the replicates (``NaN`` replicates, e.g.
    a fit that a resample cannot make, are dropped). ``n/a`` with fewer than two seeds."""
    level = _level(level)
    n = _checks.positive_int("n", n, minimum=0)
    if n == 0:
        return Claim(NA, None, None, 0, level, "bootstrap")
    est = float(statistic(np.arange(n)))
    if n < 2:
        return Claim(NA, est, None, n, level, "bootstrap")
    rng = np.random.default_rng(rng_seed)
    boot = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], np.float64)
    boot = boot[np.isfinite(boot)]
    if len(boot) < 2:
        return Claim(NA, est, None, n, level, "bootstrap")
    ci = _percentile(boot, level)
    return Claim(verdict_of(ci, low, high), est, ci, n, level, "bootstrap")


def combine(claims: Sequence[Claim]) -> str:
    """The verdict of several claims that must all hold: ``FAIL`` if any fails; ``PASS`` if
    every one passes; ``n/a`` if none can be judged; else ``TIE`` (some tie, or some pass and
    others cannot be judged)."""
    verdicts = {c.verdict for c in claims}
    if FAIL in verdicts:
        return FAIL
    if verdicts == {PASS}:
        return PASS
    if not verdicts or verdicts == {NA}:
        return NA
    return TIE
