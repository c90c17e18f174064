"""Thin entry points for the paper's figures: ``python paper_figures/<name>.py --preset quick``
runs ``l2theory.figures.<name>`` (the figure code ships inside the package, so ``l2theory
figures`` works after a plain ``pip install``). ``paper_figures/results/`` holds measured reports
and the figure folders they came from (``docs/figures.md`` lists them).
"""
