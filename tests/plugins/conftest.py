"""Install the toy plug-in as a distribution on sys.path, the way pip would."""

import shutil
import sys
from pathlib import Path

import pytest

from causality import registry

TOY = Path(__file__).with_name("toy_plugin")


def install_distribution(root: Path, name: str, entry_points: dict[str, str]) -> None:
    dist = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[causality.models]\n{lines}\n")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """A site directory holding the toy plug-in; yields a helper to add more entry points."""
    shutil.copytree(TOY / "causality_toy", tmp_path / "causality_toy")
    install_distribution(
        tmp_path, "causality-toy", {"distinct_channels": "causality_toy:DistinctChannels"}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("CAUSALITY_DISABLE_PLUGINS", raising=False)
    registry.refresh_plugins()
    yield tmp_path
    sys.modules.pop("causality_toy", None)
    registry.refresh_plugins()
