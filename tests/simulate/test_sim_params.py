import json

import pytest

from causality.errors import ConfigurationError
from causality.simulate import CHANNELS, SCENARIOS, simulate
from causality.simulate.params import resolve_params


def test_every_scenario_is_documented_and_resolves_to_json_safe_params():
    assert set(SCENARIOS) == {
        "clean",
        "confounded",
        "mediated",
        "carryover",
        "saturation",
        "tracking_loss",
    }
    for name, entry in SCENARIOS.items():
        assert len(entry["description"]) > 100
        params = resolve_params(name, 100, 10, 0, {})
        assert json.loads(json.dumps(params)) == params
        assert params["scenario"] == name


def test_simulation_params_are_json_serialisable_and_record_overrides():
    sim = simulate("clean", n_users=300, n_days=10, seed=4, lift={"Email": 0.0})
    text = json.dumps(sim.params)
    assert json.loads(text)["lift"]["Email"] == 0.0
    assert sim.params["n_users"] == 300 and sim.params["seed"] == 4
    assert sim.scenario == "clean" and sim.seed == 4


def test_params_rebuild_the_same_world():
    sim = simulate("mediated", n_users=500, n_days=15, seed=2, tracking_loss=0.2)
    params = dict(sim.params)
    again = simulate(params.pop("scenario"), **params)
    assert again.events.equals(sim.events)


def test_per_channel_overrides_merge_and_scalars_broadcast():
    params = resolve_params("clean", 100, 10, 0, {"lift": {"Email": 0.5}, "tracking_loss": 0.2})
    assert params["lift"]["Email"] == 0.5
    assert params["lift"]["Display"] == resolve_params("clean", 100, 10, 0, {})["lift"]["Display"]
    assert set(params["tracking_loss"].values()) == {0.2}


def test_unknown_override_lists_the_valid_names():
    with pytest.raises(ConfigurationError, match="unknown parameter") as info:
        simulate("clean", n_users=100, n_days=5, lifts={"Email": 1.0})
    message = str(info.value)
    assert "lifts" in message
    for name in ("lift", "exposure", "decay", "n_users", "seed", "mediation"):
        assert repr(name) in message


def test_unknown_override_is_also_a_value_error():
    with pytest.raises(ValueError, match="unknown parameter"):
        simulate(n_users=100, n_days=5, colour="red")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_users": -5}, "n_users"),
        ({"n_users": 0}, "n_users"),
        ({"n_days": 2.5}, "n_days"),
        ({"seed": -1}, "seed"),
        ({"exposure": {"Email": 1.5}}, "exposure['Email']"),
        ({"tracking_loss": -0.1}, "tracking_loss['Paid Search Brand']"),
        ({"anonymous_share": 2.0}, "anonymous_share"),
        ({"offline_share": -0.5}, "offline_share"),
        ({"base_hazard": 1.5}, "base_hazard"),
        ({"decay": {"Display": 1.2}}, "decay['Display']"),
        ({"lift": {"Email": float("nan")}}, "lift['Email']"),
        ({"lift": {"Emial": 1.0}}, "lift"),
        ({"mediation": {"Display": {"Email": -1.0}}}, "mediation['Display']['Email']"),
        ({"lift_cap": 0.0}, "lift_cap"),
        ({"start": "not a date"}, "start"),
        ({"channels": ["Email", "Email"]}, "channels"),
    ],
)
def test_bad_values_raise_configuration_error_naming_the_parameter(kwargs, name):
    kwargs = {"n_users": 100, "n_days": 5, **kwargs}
    with pytest.raises(ConfigurationError) as info:
        simulate("confounded", **kwargs)
    assert repr(name) in str(info.value)


def test_unknown_scenario_lists_scenarios():
    with pytest.raises(ConfigurationError, match="clean"):
        simulate("chaotic", n_users=100, n_days=5)


def test_mediation_cycle_is_rejected():
    with pytest.raises(ConfigurationError, match="acyclic"):
        simulate(
            n_users=100,
            n_days=5,
            mediation={"Display": {"Email": 1.0}, "Email": {"Display": 1.0}},
        )


def test_channels_can_be_dropped_or_added():
    sim = simulate(
        "clean",
        n_users=300,
        n_days=10,
        channels=["Email", "Display", "Podcast"],
        exposure={"Podcast": 0.05},
        lift={"Podcast": 1.0},
    )
    assert list(sim.truth.index) == ["Email", "Display", "Podcast"]
    assert set(sim.events["channel"].dropna()) <= {"Email", "Display", "Podcast"}
    with pytest.raises(ConfigurationError, match="Podcast"):
        simulate("clean", n_users=100, n_days=5, channels=[*CHANNELS, "Podcast"])
