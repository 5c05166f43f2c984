import pandas as pd

import causality as ca


def test_channel_rule_set_travels_from_events_to_results_and_back():
    from causality.channels import default_grouping

    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"], utc=True),
            "event_type": ["touch", "conversion", "touch"],
            "source": ["google", None, "newsletter"],
            "medium": ["cpc", None, "email"],
            "value": [0.0, 10.0, 0.0],
        }
    )
    grouped = default_grouping(events["source"], events["medium"])
    events["channel"] = grouped.where(events["event_type"] == "touch")
    events.attrs["rule_set"] = grouped.attrs["rule_set"]
    journeys = ca.Journeys.from_events(events)
    assert journeys.metadata == {"channel_rule_set": grouped.attrs["rule_set"]}
    assert journeys.by_path().metadata == journeys.metadata
    result = ca.attribute(journeys, "last_click", n_bootstrap=0)
    assert result.metadata["channel_rule_set"] == grouped.attrs["rule_set"]
    assert ca.AttributionResult.from_dict(result.to_dict()).metadata == result.metadata
    assert ca.attribute(journeys.by_path(), "linear").metadata == result.metadata
    html = ca.report([result]).to_html()
    assert f"grouped by rule set {grouped.attrs['rule_set']}" in html
