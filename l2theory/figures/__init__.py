"""The paper's figures, regenerated: one module per figure, and ``make_all`` (all of them plus
``REPORT.md``: predicted vs measured numbers and a PASS/FAIL line per relation that must hold).

Each figure module (one per name in ``FIGURES``, below) has ``NAME``, ``CONFIGS`` (``"quick"``:
CPU minutes on the Fashion-MNIST subset shipped with the package; ``"paper"``: the paper's
datasets and models, for a GPU; a figure may have more, e.g. ``fig1``'s ``"gpu"``: minutes on one
GPU), ``TINY`` (overrides for tests),
``run(config, out) -> summary`` and ``main(argv)``. Run them with ``l2theory figures`` (all, or
``--only NAME``), ``python -m l2theory.figures.<name> --preset quick``, or the thin scripts in the
repository's ``paper_figures/`` folder. Conventions: ``docs/conventions.md``.

Example (tiny settings, seconds; the numbers mean nothing)::

    from l2theory.figures import make_all
    report = make_all.run_all("quick", "out/figures", only=["theory"], tiny=True)
"""

FIGURES = ("theory", "theory_vs_practice", "collapse", "budget", "fig1", "hessian", "theory_cnn",
           "infinite_width")

__all__ = ["FIGURES"]
