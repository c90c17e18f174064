"""The command-line layer: one module per group of ``l2theory`` commands (``demo``,
``training``: train/sweep, ``figures``). It may import every other part of the package; nothing
imports it except ``l2theory.cli``."""
