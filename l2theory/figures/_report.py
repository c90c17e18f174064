"""What a figure reports (its section of ``REPORT.md`` and its must-hold claims), and the report.

Every figure module has ``report(summary) -> Report(lines, claims)``, computed from the JSON
summary its ``run`` wrote (so ``--report-only`` gives the same report from the files):

- ``lines``: its section under ``## Numbers`` (Markdown: a heading, a caption, tables);
- ``claims``: one ``Claim(what, verdict, detail)`` per relation that must hold, listed under
  ``## Must hold`` as ``- **PASS** what: detail``. ``verdict`` is one of ``PASS``, ``FAIL``,
  ``TIE`` (the measured difference is inside the seed noise: neither shown nor refuted) and
  ``n/a`` (nothing to judge: e.g. fewer than two points).

The tolerances of the relations that several figures check live here, once.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from l2theory.figures import _common

PASS, FAIL, TIE, NA = "PASS", "FAIL", "TIE", "n/a"
VERDICTS = (PASS, FAIL, TIE, NA)

# Relation 1 (the t*-collapse): max / min of lam lr t* across lam at fixed lr is at most
# SPREAD_MAX over a lam range of at least LAM_RANGE_MIN (a decade).
SPREAD_MAX = 1.5
LAM_RANGE_MIN = 10.0
# Relation 3: lam_opt predicted within this factor of the swept best lam.
LAM_OPT_FACTOR = 2.0


@dataclasses.dataclass(frozen=True)
class Claim:
    """One relation that must hold: ``what`` it says, its ``verdict`` (``PASS``, ``FAIL``,
    ``TIE`` or ``n/a``) and the measured numbers behind it (``detail``)."""

    what: str
    verdict: str
    detail: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r}: not a verdict; use one of "
                             f"{', '.join(VERDICTS)}")

    def line(self) -> str:
        """The claim's line in ``REPORT.md``: ``- **PASS** what: detail``."""
        return f"- **{self.verdict}** {self.what}: {self.detail}"


class Report(NamedTuple):
    """A figure's part of ``REPORT.md``: its section's ``lines`` and its ``claims``."""

    lines: list[str]
    claims: list[Claim]


def pass_fail(ok: bool | None) -> str:
    """``PASS`` for True, ``FAIL`` for False, ``n/a`` for None (nothing to judge)."""
    return NA if ok is None else (PASS if ok else FAIL)


def from_word(word: str | None, good: str) -> str:
    """A noise-aware comparison's word (``experiments.verdict``: ``"better"``/``"worse"``/
    ``"tie"``, or its renamed words) as a verdict: ``good`` -> ``PASS``, ``"tie"`` -> ``TIE``,
    the other word -> ``FAIL``, None (no noise estimate) -> ``n/a``."""
    if word is None:
        return NA
    return TIE if word == "tie" else (PASS if word == good else FAIL)


def spans_a_decade(lam_range: float) -> bool:
    """``max lam / min lam`` is at least ``LAM_RANGE_MIN`` (up to float rounding)."""
    return lam_range >= LAM_RANGE_MIN * (1 - 1e-6)


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
    lines.append("## Must hold\n")
    lines += [claim.line() for claim in claims] or ["- (no checks: their figures were not run)"]
    lines += ["", "## Numbers\n", *body, "## Figures\n"]
    for name, s in summaries.items():
        lines.append(f"- `{name}`: " + ", ".join(f"`{Path(f).name}`" for f in s["files"]))
    path = Path(out) / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({total:.0f} s)")
    return path
