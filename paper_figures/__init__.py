"""Scripts that regenerate the paper's figures (one module per figure) and ``make_all``.

Each figure module has ``NAME``, ``CONFIGS`` (``"quick"``: CPU minutes on the shipped
Fashion-MNIST subset; ``"paper"``: the paper's datasets and models, for a GPU), ``TINY``
(overrides for the tests), ``run(config, out) -> summary`` and ``main(argv)``. Run one with
``PYTHONPATH=. python paper_figures/<name>.py --preset quick``; all of them with
``python -m paper_figures.make_all --preset quick`` or ``l2theory figures``.
"""
