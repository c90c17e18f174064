"""``l2theory figures``: the figures command (``l2theory.figures.make_all``; its options and the
report are documented in ``l2theory.figures``), with the ``l2theory`` parser: a usage error is one
line, and ``l2theory.cli`` reports errors (a missing dataset: exit status 2 naming it, after the
other figures ran and the report was written)."""
from __future__ import annotations

from l2theory._cli._common import Parser


def main(argv=None) -> int:
    import l2theory.figures
    from l2theory.figures import make_all

    parser = Parser(prog="l2theory figures", description=l2theory.figures.__doc__)
    return make_all.execute(make_all.add_options(parser).parse_args(argv))
