"""Entry point: ``python paper_figures/fig1.py [--preset quick|gpu|paper] [--out DIR]`` runs
``l2theory.figures.fig1`` (see its docstring for what it shows, presets and measured numbers)."""
from l2theory.figures import fig1

if __name__ == "__main__":
    raise SystemExit(fig1.main())
