"""The paper's figures, regenerated, with ``REPORT.md``: predicted vs measured numbers and a line
``PASS``/``FAIL``/``TIE``/``n/a`` per relation that must hold, decided by its 95% interval
(``TIE``: the interval straddles the boundary, inconclusive at this size).

Command (one command, three ways in, the same options)::

    l2theory figures [options]                       # every figure
    python -m l2theory.figures.make_all [options]    # the same
    python -m l2theory.figures.<name> [options]      # the same, for figure <name> alone

    --preset NAME     quick (default): CPU minutes on the Fashion-MNIST subset shipped with
                      l2theory; paper: the paper's datasets and models, for a GPU (datasets on
                      disk, see $L2THEORY_DATA); a preset only some figures have (fig1's gpu)
                      runs those figures
    --out DIR         DIR/<name>/ per figure and DIR/REPORT.md [default: out/figures]; a folder
                      that cannot be written fails before any work
    --only NAME ...   run only these figures
    --report-only     rewrite DIR/REPORT.md from the figures' JSON summaries in DIR
    --no-progress     no progress bars or per-width lines inside the figures
    --tiny            tiny settings that run in seconds (tests; numbers meaningless)
    --dataset NAME    run every figure (and panel) on this dataset instead
    --panels KEY ...  run only these panels of a figure with panels (collapse)
    --finite DIR      infinite_width: draw the finite nets of this collapse output folder
    --debug           show the traceback of an error

A figure whose dataset is not on disk is not run; the others are, the report says where the
dataset was searched and how to get it, and the command exits with status 2 naming it. Running
one figure (``--only`` or its module) writes a report of that figure; ``--report-only`` then
rewrites the report of every figure in DIR. What each figure shows, its presets and measured
numbers: ``docs/figures.md``. Conventions: ``docs/conventions.md``.

Each figure module (one per name in ``FIGURES``) has the same small protocol:

- ``NAME``; ``CONFIGS``: its presets (``{"quick": {...}, "paper": {...}, ...}``; plain dicts
  of numbers, lists and model settings); ``TINY``: overrides that make any preset run in
  seconds (tests);
- ``run(config, out, progress=False) -> summary``: the figure's files into the folder ``out``
  and ``<NAME>.json``, whose content it returns (``config``, ``results``, ``runtime_s``,
  ``machine``, ``files``);
- ``report(summary) -> Report(lines, claims)``: its section of ``REPORT.md`` and its lines
  (``l2theory.figures._report.Claim``), from the summary alone: one per relation of the paper
  that must hold, decided by a 95% interval (``Claim.of(what, experiments.claim_*(...))``:
  claim, estimate, interval, n and verdict), and apart from them the sanity checks that hold by
  construction (``Claim.sanity``);
- ``main(argv=None) -> int``: the command for this figure alone.

Example (tiny settings, seconds; the numbers mean nothing)::

    from l2theory.figures import make_all
    report = make_all.run_all("quick", "out/figures", only=["theory"], tiny=True)
"""

FIGURES = ("theory", "theory_vs_practice", "collapse", "budget", "fig1", "hessian", "theory_cnn",
           "infinite_width", "bn_equilibrium", "lazy_limit")

__all__ = ["FIGURES"]
