"""The README's Python examples run as written."""

import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    # Blocks that import a hypothetical third-party package illustrate plug-ins only.
    return [b for b in blocks if "my_package" not in b]


def test_readme_python_examples_run(tmp_path, monkeypatch, shared_data):
    blocks = python_blocks()
    assert len(blocks) >= 3
    shutil.copy(shared_data / "channelattribution" / "Data.csv", tmp_path / "Data.csv")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["result"].model == "last_click"
    assert len(namespace["journeys"].paths()) > 0
    assert (tmp_path / "last_click.json").exists()
