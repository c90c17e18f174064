"""examples/quickstart.ipynb runs top to bottom in a kernel of this environment's own Python
(nbclient; a kernel spec written for ``sys.executable``, so no other Jupyter installation is
picked up), so it cannot rot; its outputs hold what its text says."""
import json
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")


def test_quickstart_notebook_runs_in_this_python_and_shows_what_it_says(tmp_path, monkeypatch):
    spec = tmp_path / "kernels" / "l2theory-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "l2theory test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    NotebookClient(nb, timeout=600, kernel_name="l2theory-test",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert _text(code[-1]).strip() == sys.executable
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    plots = [c for c in code if any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(plots) == 2  # the solver's curves and the trained net against its prediction
    text = "\n".join(_text(c) for c in code)
    assert "'method': 'eigh'" in text  # 300 points: below auto's crossover
    measured, predicted = map(float, re.search(
        r"t\* by test loss: measured (\d+) steps, predicted (\d+)", text).groups())
    assert 0.5 < measured / predicted < 2.0, text  # a width-512 net follows its NTK flow
    assert text.count("lam_opt = ") >= 2 and "verdict: lam_opt" in text
