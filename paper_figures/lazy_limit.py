"""Entry point: ``python paper_figures/lazy_limit.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.lazy_limit`` (see its docstring for what it shows, presets and numbers)."""
from l2theory.figures import lazy_limit

if __name__ == "__main__":
    raise SystemExit(lazy_limit.main())
