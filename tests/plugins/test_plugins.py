"""Third-party models found through the `causality.models` entry-point group."""

import subprocess
import sys

import pandas as pd
import pytest

import causality as ca
from causality import registry
from causality.errors import ModelNotFoundError, PluginWarning
from causality.testing import check_model

from .conftest import TOY, install_distribution


def test_installed_plugin_appears_in_available_models_and_fits(plugin_site):
    assert "distinct_channels" in ca.available_models()
    table = pd.DataFrame({"path": ["A > A > B"], "conversions": [3], "nulls": [1]})
    result = ca.attribute(table, "distinct_channels", n_bootstrap=0)
    assert result.table["conversions"].to_dict() == {"A": 1.5, "B": 1.5}
    assert registry.describe_models().loc["distinct_channels", "source"] == "causality-toy"


def test_plugin_passes_the_public_contract_suite(plugin_site):
    check_model(registry.get_model("distinct_channels"))


def test_broken_plugin_warns_and_is_skipped(plugin_site):
    install_distribution(
        plugin_site / "broken",
        "causality-broken",
        {"broken_model": "no_such_module_xyz:Model", "not_a_model": "causality_toy:np"},
    )
    sys.path.insert(0, str(plugin_site / "broken"))
    try:
        registry.refresh_plugins()
        with pytest.warns(PluginWarning) as warned:
            names = ca.available_models()
    finally:
        sys.path.remove(str(plugin_site / "broken"))
    messages = " ".join(str(w.message) for w in warned)
    assert "broken_model" in messages and "not_a_model" in messages
    assert "distinct_channels" in names and "broken_model" not in names
    assert "not_a_model" not in names


def test_plugin_cannot_shadow_a_builtin(plugin_site):
    install_distribution(
        plugin_site / "clash", "causality-clash", {"last_click": "causality_toy:DistinctChannels"}
    )
    sys.path.insert(0, str(plugin_site / "clash"))
    try:
        registry.refresh_plugins()
        with pytest.warns(PluginWarning, match="built-in"):
            names = ca.available_models()
    finally:
        sys.path.remove(str(plugin_site / "clash"))
    assert names.count("last_click") == 1
    assert registry.get_model("last_click") is ca.models.LastClick


def test_disable_switch_turns_discovery_off(plugin_site, monkeypatch):
    monkeypatch.setenv("CAUSALITY_DISABLE_PLUGINS", "1")
    registry.refresh_plugins()
    assert "distinct_channels" not in ca.available_models()
    assert "last_click" in ca.available_models()
    with pytest.raises(ModelNotFoundError, match="distinct_channels"):
        ca.attribute(pd.DataFrame({"path": ["A"], "conversions": [1]}), "distinct_channels")


@pytest.mark.slow
def test_pip_installed_plugin_is_listed_by_the_cli(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(TOY),
        ],
        check=True,
    )
    env = {"PYTHONPATH": str(target), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-m", "causality", "models"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "distinct_channels" in out.stdout and "causality-toy" in out.stdout
