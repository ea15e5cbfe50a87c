"""Executes quickstart.ipynb with nbclient (as .ci/run does) and checks its output."""

import pathlib

import nbclient
import nbformat

path = pathlib.Path(__file__).with_name("quickstart.ipynb")
notebook = nbformat.read(path, as_version=4)
nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
errors = [o for o in outputs if o.get("output_type") == "error"]
assert not errors, errors
text = "".join(o.get("text", "") for o in outputs)
assert "charged: 1" in text and "platinum" in text, text
print("quickstart.ipynb: executed, release and charge as expected")
