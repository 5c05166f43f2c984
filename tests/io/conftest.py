"""Hand-made GA4 export rows, in the shape BigQuery's JSON export writes them."""

import json

import pytest

T0 = 1_717_200_000_000_000  # 2024-06-01 00:00:00 UTC in microseconds


def param(key, value):
    slot = {"string_value": None, "int_value": None, "float_value": None, "double_value": None}
    if isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        slot["int_value"] = str(value)  # BigQuery JSON writes INT64 as a string
    elif isinstance(value, float):
        slot["double_value"] = value
    else:
        slot["string_value"] = value
    return {"key": key, "value": slot}


def hit(
    name,
    seconds,
    pseudo="c1",
    *,
    user=None,
    session=1,
    revenue=None,
    order=None,
    traffic_source=("google", "organic", "(organic)"),
    collected=None,
    **params,
):
    """One export row; ``params`` become event_params (source=..., medium=..., gclid=...)."""
    row = {
        "event_date": "20240601",
        "event_timestamp": str(T0 + int(seconds * 1_000_000)),
        "event_name": name,
        "event_params": [param("ga_session_id", session)]
        + [param(k, v) for k, v in params.items()],
        "user_id": user,
        "user_pseudo_id": pseudo,
        "traffic_source": dict(zip(("source", "medium", "name"), traffic_source, strict=True)),
        "ecommerce": None,
        "items": [],
    }
    if name == "purchase":
        row["ecommerce"] = {
            "purchase_revenue": revenue,
            "purchase_revenue_in_usd": revenue,
            "transaction_id": order,
            "total_item_quantity": "1",
        }
    if collected is not None:
        row["collected_traffic_source"] = collected
    return row


@pytest.fixture
def write_ndjson(tmp_path):
    def write(rows, name="events_20240601.json"):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    return write
