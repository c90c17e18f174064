"""Entry point: ``python paper_figures/make_all.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.make_all`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import make_all

if __name__ == "__main__":
    raise SystemExit(make_all.main())
