"""Entry point: ``python paper_figures/collapse.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.collapse`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import collapse

if __name__ == "__main__":
    raise SystemExit(collapse.main())
