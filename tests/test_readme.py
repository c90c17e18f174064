"""README.md's example runs as written (so it never goes stale)."""
import pathlib
import re

import jax

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    previous = jax.config.jax_enable_x64
    try:
        for block in blocks:
            exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert "t* =" in capsys.readouterr().out
