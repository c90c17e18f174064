"""What a figure reports (its section of ``REPORT.md``, its must-hold claims and its sanity
checks), and the report.

Every figure module has ``report(summary) -> Report(lines, claims)``, computed from the JSON
summary its ``run`` wrote (so ``--report-only`` gives the same report from the files):

- ``lines``: its section under ``## Numbers`` (Markdown: a heading, a caption, tables);
- ``claims``: one ``Claim`` per line: of kind ``"claim"`` (a relation of the paper that must
  hold, decided by an interval: ``Claim.of(what, experiments.claim_*(...), detail)``), listed
  under ``## Must hold`` with its estimate, interval, n and verdict; or of kind ``"sanity"``
  (a check that holds by construction - an exactly flat direction, a collapsed net, a solver's
  tolerance - listed apart under ``## Sanity checks`` and never counted as evidence).

The verdicts are ``l2theory.experiments``' (``PASS``, ``FAIL``, ``TIE``: inconclusive at this
size, ``n/a``: nothing to judge); the tolerances of the relations that several figures check live
here, once.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from l2theory._experiments.claims import FAIL, NA, PASS, TIE, VERDICTS  # noqa: F401
from l2theory.figures import _common

CLAIM, SANITY = "claim", "sanity"
KINDS = (CLAIM, SANITY)

# Relation 1 (the t*-collapse): max / min of lam lr t* across lam at fixed lr is at most
# SPREAD_MAX over a lam range of at least LAM_RANGE_MIN (a decade).
SPREAD_MAX = 1.5
LAM_RANGE_MIN = 10.0
# Relation 3: lam_opt predicted within this factor of the measured optimum.
LAM_OPT_FACTOR = 2.0
# The level of every interval of a must-hold line.
LEVEL = 0.95
EDGE = "optimum at the grid edge"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One line of the report: ``what`` it says, its ``verdict``, the measured numbers behind it
    (``detail``) and, for a must-hold claim (``kind="claim"``), the decision's ``estimate``, its
    interval ``ci`` at ``level``, the number of samples ``n`` and the interval's ``method``
    (those of an ``experiments.Claim``, see ``of``); ``fmt`` formats the numbers. A sanity check
    (``kind="sanity"``) holds by construction and carries only ``verdict`` and ``detail``."""

    what: str
    verdict: str
    detail: str
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    n: int | None = None
    level: float | None = None
    method: str | None = None
    kind: str = CLAIM
    fmt: str = ".3g"
    note: str | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r}: not a verdict; use one of "
                             f"{', '.join(VERDICTS)}")
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}: not a kind; use one of {', '.join(KINDS)}")
        if self.kind == CLAIM and self.n is None:
            raise ValueError(f"what={self.what!r}: a must-hold claim carries its estimate, "
                             "interval and n; build it with Claim.of(what, "
                             "experiments.claim_*(...)), or pass kind='sanity' for a check "
                             "that holds by construction")

    @classmethod
    def of(cls, what: str, stat, detail: str = "", *, fmt: str = ".3g",
           verdict: str | None = None, note: str | None = None) -> "Claim":
        """A must-hold claim decided by ``stat`` (an ``experiments.Claim``: its verdict,
        estimate, interval, n, level and method). ``verdict`` overrides the interval's (e.g.
        ``TIE`` for an optimum at the grid edge), with ``note`` saying why."""
        return cls(what, verdict or stat.verdict, detail, stat.estimate, stat.ci, stat.n,
                   stat.level, stat.method, CLAIM, fmt, note)

    @classmethod
    def sanity(cls, what: str, verdict: str, detail: str) -> "Claim":
        """A check that holds by construction (listed apart; not evidence)."""
        return cls(what, verdict, detail, kind=SANITY)

    def numbers(self) -> str:
        """``estimate 0.947, 95% CI [0.93, 0.963], n = 5`` (``exact`` for a number without
        sampling noise; ``no interval`` without a noise estimate)."""
        f = lambda x: "-" if x is None else format(x, self.fmt)  # noqa: E731
        if self.method == "exact":
            return f"{f(self.estimate)} (exact: no sampling noise)"
        level = f"{100 * (self.level or LEVEL):g}%"
        how = {"t": "t", "welch": "Welch", "bootstrap": "bootstrap"}.get(self.method or "", "")
        ci = "no interval" if self.ci is None else (
            f"{level} CI [{f(self.ci[0])}, {f(self.ci[1])}]" + (f" ({how})" if how else ""))
        return f"estimate {f(self.estimate)}, {ci}, n = {self.n}"

    def line(self) -> str:
        """The line in ``REPORT.md``: ``- **PASS** what: estimate .., 95% CI [..], n = ..;
        detail`` (a sanity check: ``- **PASS** what: detail``)."""
        verdict = self.verdict + (f" ({self.note})" if self.note else "")
        if self.kind == SANITY:
            return f"- **{verdict}** {self.what}: {self.detail}"
        return f"- **{verdict}** {self.what}: {self.numbers()}" + (
            f"; {self.detail}" if self.detail else "")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class Report(NamedTuple):
    """A figure's part of ``REPORT.md``: its section's ``lines`` and its ``claims``."""

    lines: list[str]
    claims: list[Claim]


def pass_fail(ok: bool | None) -> str:
    """``PASS`` for True, ``FAIL`` for False, ``n/a`` for None (nothing to judge)."""
    return NA if ok is None else (PASS if ok else FAIL)


def spans_a_decade(lam_range: float) -> bool:
    """``max lam / min lam`` is at least ``LAM_RANGE_MIN`` (up to float rounding)."""
    return lam_range >= LAM_RANGE_MIN * (1 - 1e-6)


def distance_claim(entries: list[dict], size: str, figure: str) -> Claim:
    """The claim "the distance to the theory falls as ``size`` grows": per seed, the slope of
    ``ln distance_mean`` against ``ln size`` over every entry (``*_per_seed``), a 95%
    t-interval over seeds below 0 (``claim_within(..., -inf, 0)``)."""
    import numpy as np

    from l2theory import experiments as ex

    key = "width" if size == "widths" else size
    sizes = np.log([e[key] for e in entries])
    per_seed = np.array([e["distance_mean_per_seed"] for e in entries], np.float64)
    slopes = [float(np.polyfit(sizes, np.log(per_seed[:, j]), 1)[0])
              for j in range(per_seed.shape[1])] if len(entries) > 1 else []
    d = [e["distance_mean"] for e in entries]
    return Claim.of(
        f"the distance to the theory falls as the {size} grow ({figure}; the exponent of "
        f"distance ~ {key}^p per seed, p < 0)", ex.claim_within(slopes, -np.inf, 0.0),
        f"distance (mean over seeds) {', '.join(f'{x:.3f}' for x in d)} at {size} "
        + ", ".join(str(int(np.exp(x) + 0.5)) for x in sizes)
        + f"; exponent per seed {_common.numbers(slopes, '.2f')} (theory: -1/2)", fmt=".3f")


def lam_opt_claim(where: str, lam_pred: float, lam_pred_per_seed, optimum: dict,
                  metric: str) -> Claim:
    """The claim "``lam_opt`` predicted within ``LAM_OPT_FACTOR`` of the optimum fitted on
    ``metric``" (``experiments.lam_opt_claim``: per-seed ratios, in log; ``TIE`` at the grid's
    edge); ``where`` names the figure and arm."""
    from l2theory import experiments as ex

    c, note = ex.lam_opt_claim(lam_pred_per_seed, optimum, factor=LAM_OPT_FACTOR)
    window = optimum["window"]
    return Claim.of(
        f"lam_opt predicted within a factor {LAM_OPT_FACTOR:g} of the optimum fitted on "
        f"`{metric}` ({where}; ratio predicted / fitted, per seed, in log)", c,
        f"predicted {lam_pred:.3g}, fitted {optimum['lam_opt']:.3g} (parabola in ln lam "
        f"through {_common.numbers(window)})" if window else
        f"predicted {lam_pred:.3g}; best grid lam {optimum['lam_opt']:.3g} is the grid's edge",
        fmt=".3g", note=note)


def caption_line(name: str, text: str) -> str:
    """The caption under a figure's heading: ``*Figure `name`.* text``."""
    return f"*Figure `{name}`.* {text}\n"


def write_report(out: Path, preset: str, reports: Mapping[str, Report],
                 summaries: Mapping[str, Mapping[str, Any]], errors: Mapping[str, str],
                 total: float, tiny: bool = False) -> Path:
    """Write ``out/REPORT.md``: the machine and runtimes, every claim under ``## Must hold``,
    each figure's section (in the order of ``reports``; a ``not run`` section for each of
    ``errors``) under ``## Numbers``, the files under ``## Figures``; returns its path."""
    env = _common.machine()
    lines = [f"# Paper figures: predicted vs measured (preset `{preset}`"
             f"{', tiny' if tiny else ''})\n",
             f"Machine: {_common.hardware_line(env)}; host {env.get('hostname')}; git "
             f"{env.get('git')}; {env.get('time')}.",
             f"Total runtime: {total:.0f} s ({total / 60:.1f} min); per figure: " + ", ".join(
                 f"{n} {s['runtime_s']:.0f} s" for n, s in summaries.items()) + ".\n"]
    if tiny:
        lines.append("**Tiny settings (tests): the numbers below are not meaningful.**\n")
    body: list[str] = []
    claims: list[Claim] = []
    for name, report in reports.items():
        if name in errors:
            body += [f"### {name}: not run\n", "```", errors[name], "```", ""]
        elif report is not None:
            body += report.lines
            claims += report.claims
    must = [c for c in claims if c.kind == CLAIM]
    sanity = [c for c in claims if c.kind == SANITY]
    lines.append("## Must hold\n")
    if must:
        counts = {v: sum(c.verdict == v for c in must) for v in VERDICTS}
        lines.append(f"{len(must)} relations of the paper, each decided by a {100 * LEVEL:g}% "
                     "interval (PASS: inside the claimed range; FAIL: entirely outside; TIE: "
                     "across an edge, inconclusive at this size; n/a: nothing to judge): "
                     + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + ".\n")
    lines += [claim.line() for claim in must] or ["- (no checks: their figures were not run)"]
    if sanity:
        lines += ["", "## Sanity checks (hold by construction; not evidence)\n"]
        lines += [claim.line() for claim in sanity]
    lines += ["", "## Numbers\n", *body, "## Figures\n"]
    for name, s in summaries.items():
        lines.append(f"- `{name}`: " + ", ".join(f"`{Path(f).name}`" for f in s["files"]))
    path = Path(out) / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({total:.0f} s)")
    return path
