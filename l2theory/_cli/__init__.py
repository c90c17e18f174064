"""The command-line layer: one module per group of ``l2theory`` commands (``demo``,
``training``: train/sweep, ``predict``, ``figures``), and ``_common``: the argument parser and
output-folder check they share. It may import every other part of the package; nothing imports
it except ``l2theory.cli``."""
