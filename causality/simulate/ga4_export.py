"""Write a simulation's event log as a GA4 BigQuery export, to test GA4 imports end to end.

One ``events_YYYYMMDD`` file per day (UTC), with the columns `causality.io.read_ga4` uses,
shaped as BigQuery exports them:

* a touch becomes a session: ``session_start`` and ``page_view`` hits (both carrying the
  channel's ``source``/``medium``/``campaign`` event parameters, and a ``gclid`` for paid
  search), then a ``user_engagement`` hit ten seconds later without traffic parameters;
* an ``identify`` row becomes a ``login`` hit with both ids;
* a conversion becomes a ``purchase`` with ``ecommerce.purchase_revenue`` (USD) and a
  ``transaction_id``; a ``duplicate_purchases`` share is sent twice, 30 seconds apart
  (a reloaded confirmation page), which GA4 (and the reader) count once.

Every hit carries ``user_pseudo_id`` (the simulated cookie: the anonymous id, or one
derived from the user id) and ``user_id`` where the simulated row shows it, ``ga_session_id``,
``traffic_source`` (the user's first logged touch), ``device.category`` and ``geo.region``.
The ``offline`` flag has no GA4 column and is not written. NDJSON writes INT64 values as
JSON strings, as BigQuery's JSON export does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from causality._progress import track
from causality.errors import ConfigurationError
from causality.simulate.rng import keyed_uniform

__all__ = ["GA4_FORMATS", "TRAFFIC", "write_ga4"]

GA4_FORMATS = ("ndjson", "json", "parquet")
#: How each built-in channel appears in GA4: (source, medium, campaign, click-id parameter).
#: Under the GA4 default grouping they fall in Paid Search (both search channels), Paid
#: Social, Paid Video, Display, Paid Other, Email, Affiliates, Organic Social and Direct.
TRAFFIC: dict[str, tuple[str, str, str, str | None]] = {
    "Paid Search Brand": ("google", "cpc", "brand_search", "gclid"),
    "Paid Search Generic": ("google", "cpc", "generic_search", "gclid"),
    "Paid Social": ("facebook", "paid_social", "prospecting", None),
    "Online Video": ("youtube", "cpv", "video_awareness", None),
    "Display": ("dv360", "display", "display_prospecting", None),
    "Display Retargeting": ("criteo", "retargeting", "display_retargeting", None),
    "Email": ("newsletter", "email", "weekly_newsletter", None),
    "Affiliates": ("partner_network", "affiliate", "affiliate_program", None),
    "Organic Social": ("instagram", "social", "(social)", None),
    "Direct": ("(direct)", "(none)", "(direct)", None),
}
_US = 1_000_000


def write_ga4(
    events: pd.DataFrame,
    path: str | Path,
    *,
    seed: int,
    format: str = "ndjson",
    duplicate_purchases: float = 0.1,
    traffic: Mapping[str, tuple[str, str, str, str | None]] | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Write ``events`` (a simulated event log) as daily GA4 export files under ``path``.

    See `causality.simulate.Simulation.to_ga4`.
    """
    if format not in GA4_FORMATS:
        raise ConfigurationError(f"format must be one of {list(GA4_FORMATS)}; got {format!r}")
    if not 0.0 <= duplicate_purchases <= 1.0:
        raise ConfigurationError(
            f"duplicate_purchases must be a share in [0, 1]; got {duplicate_purchases!r}"
        )
    traffic = dict(TRAFFIC if traffic is None else traffic)
    channels = set(events["channel"].dropna().unique())
    if missing := sorted(channels - set(traffic)):
        raise ConfigurationError(
            f"no GA4 traffic for channels {missing}. Fix: pass traffic={{channel: (source, "
            "medium, campaign, click_id_param or None)}} covering every channel."
        )
    hits = _hits(events, traffic, seed, duplicate_purchases)
    table = _table(hits)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    day = hits["timestamp_us"].to_numpy() // (86_400 * _US)
    written = []
    for d in track(np.unique(day), "GA4 export", progress=progress):
        part = table.filter(pa.array(day == d))
        stamp = pd.Timestamp(int(d) * 86_400, unit="s").strftime("%Y%m%d")
        written.append(_write(part, folder / f"events_{stamp}", format))
    return written


def _hits(
    events: pd.DataFrame, traffic: Mapping, seed: int, duplicate_purchases: float
) -> pd.DataFrame:
    """One row per GA4 hit, flat, in time order; ``row`` is the simulated event behind it."""
    ev = events.reset_index(drop=True)
    kind = ev["event_type"].astype(str).to_numpy()
    micros = ev["timestamp"].to_numpy(dtype="datetime64[us]").view(np.int64)
    parts = _session_hits(ev, np.flatnonzero(kind == "touch"), micros, traffic)
    login = np.flatnonzero(kind == "identify")
    parts.append(_hit_frame(login, "login", micros[login], micros[login] // _US))
    conv = np.flatnonzero(kind == "conversion")
    twice = keyed_uniform(seed, "ga4_duplicate", conv) < duplicate_purchases
    for rows, offset in ((conv, 0), (conv[twice], 30)):  # a reload resends the purchase
        part = _hit_frame(rows, "purchase", micros[rows] + offset * _US, micros[rows] // _US)
        part["revenue"] = ev["value"].to_numpy()[rows]
        part["transaction_id"] = np.char.add(f"T{seed}-", rows.astype(str))
        part["currency"] = "USD"
        parts.append(part)
    hits = pd.concat(parts, ignore_index=True)
    row = hits["row"].to_numpy()
    pseudo = _pseudo_ids(ev)
    hits["user_pseudo_id"] = pseudo[row]
    for column in ("user_id", "device", "region"):
        hits[column] = ev[column].to_numpy(dtype=object, na_value=None)[row]
    hits = hits.join(_first_touch(ev, pseudo, traffic), on="user_pseudo_id")
    hits = hits.sort_values(["timestamp_us", "row"], kind="stable").reset_index(drop=True)
    hits["bundle"] = np.arange(len(hits), dtype=np.int64)
    return hits


def _hit_frame(
    rows: np.ndarray, name: str, micros: np.ndarray, session: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": rows, "event_name": name, "timestamp_us": micros, "session_id": session}
    )


def _session_hits(
    ev: pd.DataFrame, touch: np.ndarray, micros: np.ndarray, traffic: Mapping
) -> list[pd.DataFrame]:
    """Each touch as a session (id: its start in seconds): two hits with traffic, one without."""
    fields = pd.DataFrame.from_dict(
        traffic, orient="index", columns=["source", "medium", "campaign", "click"]
    )
    touch_traffic = fields.loc[ev["channel"].iloc[touch].astype(str)].reset_index(drop=True)
    session = micros[touch] // _US
    parts = []
    for name, offset, with_traffic in (
        ("session_start", 0, True),
        ("page_view", 0, True),
        ("user_engagement", 10, False),
    ):
        part = _hit_frame(touch, name, micros[touch] + offset * _US, session)
        parts.append(pd.concat([part, touch_traffic], axis=1) if with_traffic else part)
    return parts


def _pseudo_ids(ev: pd.DataFrame) -> np.ndarray:
    """The cookie of every row: its anonymous id, else the one its user identified with."""
    anonymous = ev["anonymous_id"].astype("string")
    user = ev["user_id"].astype("string")
    links = ev.loc[ev["event_type"] == "identify", ["user_id", "anonymous_id"]]
    cookie_of = links.drop_duplicates("user_id").set_index("user_id")["anonymous_id"]
    pseudo = anonymous.fillna(user.map(cookie_of)).fillna("p" + user)
    return pseudo.to_numpy(dtype=object, na_value=None)


def _first_touch(ev: pd.DataFrame, pseudo: np.ndarray, traffic: Mapping) -> pd.DataFrame:
    """traffic_source of each cookie: its first logged touch, or (direct) without one."""
    touches = pd.DataFrame({"user_pseudo_id": pseudo, "channel": ev["channel"]})
    touches = touches[ev["event_type"].eq("touch").to_numpy()]
    first = touches.drop_duplicates("user_pseudo_id").set_index("user_pseudo_id")["channel"]
    fields = pd.DataFrame.from_dict(
        {c: t[:3] for c, t in traffic.items()},
        orient="index",
        columns=["first_source", "first_medium", "first_campaign"],
    )
    out = fields.loc[first.astype(str)].set_axis(first.index)
    everyone = pd.Index(pd.unique(pseudo), name="user_pseudo_id")
    return out.reindex(everyone).fillna(
        {"first_source": "(direct)", "first_medium": "(none)", "first_campaign": "(direct)"}
    )


def _table(hits: pd.DataFrame) -> pa.Table:
    """The hits as a GA4-shaped Arrow table (nested columns as BigQuery writes them)."""
    n = len(hits)

    def text(column: str) -> pa.Array:
        if column not in hits:
            return pa.nulls(n, pa.string())
        return pa.array(hits[column].to_numpy(dtype=object, na_value=None), pa.string())

    stamp = pd.to_datetime(hits["timestamp_us"], unit="us").dt.strftime("%Y%m%d")
    revenue = pa.array(
        hits["revenue"].to_numpy(dtype=float), mask=hits["revenue"].isna().to_numpy()
    )
    is_purchase = hits["event_name"].eq("purchase").to_numpy()
    struct = pa.StructArray.from_arrays
    return pa.table(
        {
            "event_date": pa.array(stamp.to_numpy(dtype=object), pa.string()),
            "event_timestamp": pa.array(hits["timestamp_us"].to_numpy(), pa.int64()),
            "event_name": text("event_name"),
            "event_params": _params(hits),
            "event_bundle_sequence_id": pa.array(hits["bundle"].to_numpy(), pa.int64()),
            "user_id": text("user_id"),
            "user_pseudo_id": text("user_pseudo_id"),
            "traffic_source": struct(
                [text("first_medium"), text("first_campaign"), text("first_source")],
                ["medium", "name", "source"],
            ),
            "device": struct([text("device")], ["category"]),
            "geo": struct([text("region")], ["region"]),
            "ecommerce": struct(
                [revenue, revenue, text("transaction_id")],
                ["purchase_revenue", "purchase_revenue_in_usd", "transaction_id"],
                mask=pa.array(~is_purchase),
            ),
            "platform": pa.array(np.full(n, "WEB", dtype=object), pa.string()),
        }
    )


def _params(hits: pd.DataFrame) -> pa.Array:
    """``event_params``: a list of {key, value{string_value, int_value, double_value}} per hit."""
    n = len(hits)
    rows, keys, strings, ints, doubles = [], [], [], [], []

    def add(mask: np.ndarray, key: str, s=None, i=None, d=None) -> None:
        idx = np.flatnonzero(mask)
        rows.append(idx)
        keys.append(np.full(len(idx), key, dtype=object))
        strings.append(s[idx] if s is not None else np.full(len(idx), None, dtype=object))
        ints.append(i[idx] if i is not None else np.full(len(idx), np.nan))
        doubles.append(d[idx] if d is not None else np.full(len(idx), np.nan))

    everyone = np.ones(n, dtype=bool)
    add(everyone, "ga_session_id", i=hits["session_id"].to_numpy(dtype=float))
    has_traffic = hits["source"].notna().to_numpy() if "source" in hits else ~everyone
    for key in ("source", "medium", "campaign"):
        add(has_traffic, key, s=hits[key].to_numpy(dtype=object, na_value=None))
    click = hits["click"].to_numpy(dtype=object, na_value=None)
    # A click id value, stable per hit: the GA4 shape only needs something non-empty.
    values = np.char.add("cid", hits["bundle"].to_numpy().astype(str)).astype(object)
    for name in sorted(pd.Series(click, dtype=object).dropna().unique()):
        add(click == name, name, s=values)
    purchase = hits["event_name"].eq("purchase").to_numpy()
    add(purchase, "currency", s=hits["currency"].to_numpy(dtype=object, na_value=None))
    add(purchase, "value", d=hits["revenue"].to_numpy(dtype=float))
    row = np.concatenate(rows)
    order = np.argsort(row, kind="stable")
    ints_all = np.concatenate(ints)[order]
    value = pa.StructArray.from_arrays(
        [
            pa.array(np.concatenate(strings)[order], pa.string()),
            pa.array(np.nan_to_num(ints_all).astype(np.int64), mask=np.isnan(ints_all)),
            pa.nulls(len(row), pa.float64()),
            pa.array(np.concatenate(doubles)[order], pa.float64(), from_pandas=True),
        ],
        ["string_value", "int_value", "float_value", "double_value"],
    )
    items = pa.StructArray.from_arrays(
        [pa.array(np.concatenate(keys)[order], pa.string()), value], ["key", "value"]
    )
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n))])
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items)


def _write(table: pa.Table, stem: Path, format: str) -> Path:
    if format == "parquet":
        target = stem.with_suffix(".parquet")
        pq.write_table(table, target)
        return target
    target = stem.with_suffix(".json")
    if format == "ndjson":  # BigQuery's JSON export writes INT64 as strings
        table = table.cast(_ints_as_text(table.schema))
    rows = table.to_pylist()
    with open(target, "w", encoding="utf-8") as out:
        if format == "ndjson":
            out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        else:
            json.dump(rows, out, separators=(",", ":"))
    return target


def _ints_as_text(schema: pa.Schema) -> pa.Schema:
    def convert(t: pa.DataType) -> pa.DataType:
        if pa.types.is_int64(t):
            return pa.string()
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, convert(f.type)) for f in t])
        if pa.types.is_list(t):
            return pa.list_(convert(t.value_type))
        return t

    return pa.schema([pa.field(f.name, convert(f.type)) for f in schema])
