"""Entry point: ``python paper_figures/infinite_width.py [--preset quick|paper] [--out DIR]`` runs
``l2theory.figures.infinite_width`` (see its docstring for what it shows, presets and numbers)."""
from l2theory.figures import infinite_width

if __name__ == "__main__":
    raise SystemExit(infinite_width.main())
