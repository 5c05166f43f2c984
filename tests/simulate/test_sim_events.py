import numpy as np
import pandas as pd
import pytest

from causality.simulate import simulate
from causality.simulate import simulation as simulation_module

BASE_COLUMNS = ["user_id", "anonymous_id", "timestamp", "event_type", "channel", "value", "offline"]


def test_events_schema(confounded):
    ev = confounded.events
    assert list(ev.columns) == [*BASE_COLUMNS, "device", "region", "prior_visits"]
    for col in ("user_id", "anonymous_id", "event_type", "channel", "device", "region"):
        assert isinstance(ev[col].dtype, pd.StringDtype), col
    assert isinstance(ev["timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(ev["timestamp"].dt.tz) == "UTC"
    assert ev["value"].dtype == np.float64
    assert ev["offline"].dtype == bool
    assert ev["prior_visits"].dtype == np.int64
    assert ev["timestamp"].is_monotonic_increasing
    assert set(ev["event_type"].unique()) == {"touch", "conversion", "identify"}
    assert ev[["device", "region"]].notna().all().all()
    assert (ev["prior_visits"] >= 0).all()


def test_rows_by_event_type(confounded):
    ev = confounded.events
    touch = ev[ev["event_type"] == "touch"]
    conv = ev[ev["event_type"] == "conversion"]
    ident = ev[ev["event_type"] == "identify"]
    assert touch["channel"].notna().all() and touch["value"].isna().all()
    assert set(touch["channel"]) == set(confounded.truth.index)
    assert not touch["offline"].any()
    assert conv["channel"].isna().all() and ident["channel"].isna().all()
    assert np.isfinite(conv["value"]).all() and (conv["value"] >= 0).all()
    assert conv["user_id"].notna().all()  # a purchase identifies the buyer
    assert conv["user_id"].is_unique  # one purchase per user
    assert 0 < conv["offline"].mean() < 0.3
    assert ident["user_id"].notna().all() and ident["anonymous_id"].notna().all()
    assert ident["anonymous_id"].is_unique and ident["user_id"].is_unique
    assert (ev["user_id"].notna() | ev["anonymous_id"].notna()).all()
    both = ev["user_id"].notna() & ev["anonymous_id"].notna()
    assert (ev.loc[both, "event_type"] == "identify").all()
    assert len(conv) == confounded.total_conversions
    assert conv["value"].sum() == pytest.approx(confounded.total_value)


def test_anonymous_rows_precede_their_identify_row(confounded):
    ev = confounded.events
    ident = ev[ev["event_type"] == "identify"].set_index("anonymous_id")
    anon = ev[ev["user_id"].isna()]
    linked = anon["anonymous_id"].isin(ident.index)
    identify_time = ident.loc[anon.loc[linked, "anonymous_id"], "timestamp"].to_numpy()
    assert (anon.loc[linked, "timestamp"].to_numpy() <= identify_time).all()
    # The user's later rows carry the same attributes as their anonymous ones.
    user_rows = ev[ev["user_id"].notna()].groupby("user_id")["device"].first()
    stitched = ident["user_id"].map(user_rows)
    anon_device = anon.groupby("anonymous_id")["device"].first()
    common = stitched.index.intersection(anon_device.index)
    assert len(common) > 50
    assert (stitched[common] == anon_device[common]).all()


def test_touches_on_the_conversion_day_precede_the_conversion(confounded):
    ev = confounded.events
    ident = ev[ev["event_type"] == "identify"].set_index("anonymous_id")["user_id"]
    person = ev["user_id"].fillna(ev["anonymous_id"].map(ident))
    conv_time = ev[ev["event_type"] == "conversion"].set_index("user_id")["timestamp"]
    touch = ev[(ev["event_type"] == "touch") & person.isin(conv_time.index)]
    when = conv_time.loc[person[touch.index]].to_numpy()
    same_day = touch["timestamp"].dt.floor("D").to_numpy() == pd.DatetimeIndex(when).floor("D")
    assert same_day.sum() > 20
    assert (touch["timestamp"].to_numpy()[same_day] < when[same_day]).all()


def test_covariates_are_constant_per_user_and_proxy_intent(confounded):
    ev = confounded.events[confounded.events["user_id"].notna()]
    per_user = ev.groupby("user_id")[["device", "region", "prior_visits"]].nunique()
    assert (per_user == 1).all().all()
    converters = set(ev.loc[ev["event_type"] == "conversion", "user_id"])
    visits = ev.groupby("user_id")["prior_visits"].first()
    bought = visits.index.isin(list(converters))
    assert visits[bought].mean() > 1.3 * visits[~bought].mean()


def test_same_seed_same_events_and_different_seed_different_events():
    a = simulate("tracking_loss", n_users=2_000, n_days=20, seed=11)
    b = simulate("tracking_loss", n_users=2_000, n_days=20, seed=11)
    c = simulate("tracking_loss", n_users=2_000, n_days=20, seed=12)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert len(a.events) != len(c.events) or not a.events.equals(c.events)


def test_block_size_changes_nothing(monkeypatch):
    whole = simulate("mediated", n_users=3_000, n_days=20, seed=5)
    monkeypatch.setattr(simulation_module, "_BLOCK_CELLS", 1)  # 1,000-user blocks
    blocks = simulate("mediated", n_users=3_000, n_days=20, seed=5)
    pd.testing.assert_frame_equal(whole.events, blocks.events)
    pd.testing.assert_frame_equal(whole.truth, blocks.truth, check_exact=False, rtol=1e-9)


def test_tracking_loss_drops_touches_but_not_truth():
    kept = simulate("confounded", n_users=3_000, n_days=20, seed=1)
    lost = simulate("confounded", n_users=3_000, n_days=20, seed=1, tracking_loss={"Display": 0.5})
    n_kept = (kept.events["channel"] == "Display").sum()
    n_lost = (lost.events["channel"] == "Display").sum()
    assert 0.4 < n_lost / n_kept < 0.6
    pd.testing.assert_frame_equal(kept.truth, lost.truth)
    other = kept.events["channel"].isin(["Email"])
    assert other.sum() == lost.events["channel"].isin(["Email"]).sum()


def test_log_after_conversion_false_drops_post_purchase_touches():
    sim = simulate(
        "confounded",
        n_users=3_000,
        n_days=30,
        seed=2,
        log_after_conversion=False,
        anonymous_share=0.0,
    )
    ev = sim.events
    conv_time = ev[ev["event_type"] == "conversion"].set_index("user_id")["timestamp"]
    touch = ev[(ev["event_type"] == "touch") & ev["user_id"].isin(conv_time.index)]
    assert (touch["timestamp"].to_numpy() < conv_time[touch["user_id"]].to_numpy()).all()
