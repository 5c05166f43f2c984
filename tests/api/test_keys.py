"""Keys: format and checksum, the CLI, storage as hashes, scopes, revocation, rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, update

from causality.api.keyformat import BASE62, checksum, generate_key, hash_key, parse_key
from causality.api.keystore import SCOPES, KeyCache, KeyRecord
from causality.api.storage.tables import api_keys
from causality.cli import main
from causality.errors import ConfigurationError
from tests.api.conftest import touch

ENDPOINTS = {
    # endpoint -> (method, path, body, the scope it needs)
    "post_events": ("POST", "/v1/events", {"events": [touch("e1")]}, "events:write"),
    "get_event": ("GET", "/v1/events/nope", None, "events:write"),
    "attribution": ("GET", "/v1/attribution?model=last_click", None, "attribution:read"),
    "models": ("GET", "/v1/attribution/models", None, "attribution:read"),
    "list_keys": ("GET", "/v1/keys", None, "keys:manage"),
    "create_key": (
        "POST",
        "/v1/keys",
        {"name": "k", "scopes": ["events:write"], "mode": "test"},
        "keys:manage",
    ),
    "delete_user": ("DELETE", "/v1/users/u1", None, "events:write"),
}


def test_generated_keys_have_the_documented_format():
    key = generate_key("live")
    assert key.startswith("cz_live_") and len(key) == len("cz_live_") + 43 + 6
    assert set(key[8:]) <= set(BASE62)
    assert key[-6:] == checksum(key[:-6])
    assert parse_key(key) == "live"


def test_a_flipped_character_fails_the_checksum():
    key = generate_key("test")
    for position in (8, 30, len(key) - 1):
        flipped = key[:position] + ("A" if key[position] != "A" else "B") + key[position + 1 :]
        assert parse_key(flipped) is None


def test_bad_checksum_is_rejected_without_a_database_query(api):
    key = generate_key("test")
    bad = key[:-1] + ("A" if key[-1] != "A" else "B")
    queries = []
    listener = lambda *args: queries.append(args[2])  # noqa: E731
    event.listen(api.services.db.engine, "before_cursor_execute", listener)
    try:
        response = api.client.get("/v1/keys", headers=api.auth(bad))
    finally:
        event.remove(api.services.db.engine, "before_cursor_execute", listener)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert queries == []


@pytest.mark.parametrize(
    "header",
    [None, "Basic abc", "Bearer", "Bearer cz_live_short", "Bearer " + "x" * 57],
    ids=["missing", "basic", "empty", "malformed", "not_a_key"],
)
def test_missing_or_malformed_keys_get_401(api, header):
    headers = {"Authorization": header} if header else {}
    response = api.client.get("/v1/keys", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_unknown_well_formed_key_gets_401(api):
    response = api.client.get("/v1/keys", headers=api.auth(generate_key("live")))
    assert response.status_code == 401 and response.json()["detail"] == "unknown API key"


def test_key_in_query_string_is_rejected(api):
    secret = api.key()
    response = api.client.get("/v1/keys", params={"api_key": secret}, headers=api.auth(secret))
    assert response.status_code == 401
    assert "URL" in response.json()["detail"]


def test_cli_creates_a_key_that_authenticates(tmp_path, capsys, make_api, database_url):
    storage = ["--data-dir", str(tmp_path)]
    if database_url[0] is not None:
        storage += ["--database", database_url[0]]
    args = [
        "keys",
        "create",
        "--mode",
        "live",
        "--name",
        "ci",
        "--scopes",
        "events:write,keys:manage",
    ]
    assert main(args + storage) == 0
    secret = capsys.readouterr().out.strip()
    assert parse_key(secret) == "live"
    api = make_api()
    listed = api.client.get("/v1/keys", headers=api.auth(secret))
    assert listed.status_code == 200
    (key,) = listed.json()["data"]
    assert key["name"] == "ci" and key["scopes"] == ["events:write", "keys:manage"]
    assert secret not in listed.text and key["prefix"] == secret[:16] + "…"


def test_database_stores_only_the_hash(api):
    secret = api.key()
    created = api.client.post(
        "/v1/keys",
        headers=api.auth(secret),
        json={"name": "second", "scopes": ["events:write"], "mode": "test"},
    )
    assert created.status_code == 201
    second = created.json()["secret"]
    db_file = api.services.settings.data_dir / "causality.sqlite3"
    if db_file.exists():
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob("causality.sqlite3*"))
        for key in (secret, second):
            assert key.encode() not in raw and key[8:51].encode() not in raw
    with api.services.db.read() as conn:
        rows = conn.execute(select(api_keys)).all()
    for row in rows:
        assert all(secret not in str(v) and second not in str(v) for v in row)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("scope", SCOPES)
def test_scope_matrix(api, endpoint, scope):
    method, path, body, needed = ENDPOINTS[endpoint]
    secret = api.key(scopes=scope)
    response = api.client.request(method, path, headers=api.auth(secret), json=body)
    if scope == needed:
        assert response.status_code != 403, response.text
    else:
        assert response.status_code == 403
        problem = response.json()
        assert problem["code"] == "insufficient_scope"
        assert needed in problem["detail"] and problem["required_scope"] == needed


def test_revoked_key_gets_401_at_once(api):
    admin = api.key()
    victim = api.key(scopes="events:write")
    (victim_id,) = [
        k["id"]
        for k in api.client.get("/v1/keys", headers=api.auth(admin)).json()["data"]
        if k["scopes"] == ["events:write"]
    ]
    assert api.post_events(victim, [touch("e1")]).status_code == 200
    revoked = api.client.delete(f"/v1/keys/{victim_id}", headers=api.auth(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = api.post_events(victim, [touch("e2")])
    assert again.status_code == 401 and again.json()["code"] == "invalid_api_key"


class _Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key_queries(api, send) -> list[str]:
    """The SQL statements that read the api_keys table while ``send()`` runs."""
    queries: list[str] = []

    def listener(conn, cursor, statement, *args):
        if "FROM api_keys" in statement:
            queries.append(statement)

    event.listen(api.services.db.engine, "before_cursor_execute", listener)
    try:
        send()
    finally:
        event.remove(api.services.db.engine, "before_cursor_execute", listener)
    return queries


def test_a_busy_key_is_read_from_the_database_once_per_cache_period(api):
    clock = _Seconds()
    api.services.keys = KeyCache(5.0, clock=clock)
    secret = api.key(scopes="events:write")

    def send(event_id: str) -> None:
        assert api.post_events(secret, [touch(event_id)]).status_code == 200

    assert len(_key_queries(api, lambda: send("e1"))) == 1
    assert _key_queries(api, lambda: [send(f"e{k}") for k in range(2, 6)]) == []
    # Revoked by another process (straight in the database): seen once the period ends.
    with api.services.db.write() as conn:
        conn.execute(update(api_keys).values(revoked_at=1))
    clock.now += 4.9
    send("e6")
    clock.now += 0.2
    refused = api.post_events(secret, [touch("e7")])
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"


def test_without_a_key_cache_every_request_reads_the_key(make_api):
    api = make_api(rate_limits=False, key_cache_s=0)
    secret = api.key(scopes="events:write")
    sends = lambda: [api.post_events(secret, [touch(f"e{k}")]) for k in range(3)]  # noqa: E731
    assert len(_key_queries(api, sends)) == 3
    with api.services.db.write() as conn:
        conn.execute(update(api_keys).values(revoked_at=1))
    assert api.post_events(secret, [touch("e9")]).status_code == 401


def _record(secret_hash: str = "h") -> KeyRecord:
    return KeyRecord(
        id="key_1",
        name="k",
        mode="test",
        prefix="cz_test_x",
        scopes=("events:write",),
        created_at=0,
        secret_hash=secret_hash,
    )


def test_key_cache_keeps_records_for_its_period_only():
    clock = _Seconds()
    cache = KeyCache(2.0, clock=clock)
    assert cache.get("h") is None
    cache.put(_record(), cache.ticket())
    assert cache.get("h") == _record()
    clock.now += 1.99
    assert cache.get("h") == _record()
    clock.now += 0.01
    assert cache.get("h") is None
    disabled = KeyCache(0.0, clock=clock)
    disabled.put(_record(), disabled.ticket())
    assert disabled.get("h") is None


def test_key_cache_drops_a_read_that_a_key_change_overtook():
    cache = KeyCache(60.0, clock=_Seconds())
    ticket = cache.ticket()  # a request starts reading the key ...
    cache.clear()  # ... the key is revoked through this server meanwhile ...
    cache.put(_record(), ticket)  # ... and the read, older than the revocation, comes back
    assert cache.get("h") is None
    cache.put(_record(), cache.ticket())
    assert cache.get("h") is not None
    cache.clear()
    assert cache.get("h") is None


def test_key_cache_is_keyed_by_the_secret_hash(api):
    secret = api.key()
    assert api.client.get("/v1/keys", headers=api.auth(secret)).status_code == 200
    cached = api.services.keys.get(hash_key(secret))
    assert cached is not None and cached.secret_hash == hash_key(secret)
    assert secret not in repr(cached)


def test_rotation_keeps_the_old_key_for_the_grace_period(api):
    old = api.key()
    old_id = api.client.get("/v1/keys", headers=api.auth(old)).json()["data"][0]["id"]
    rotated = api.client.post(
        f"/v1/keys/{old_id}/rotate",
        headers=api.auth(old),
        json={"old_key_expires_in_seconds": 3600},
    )
    assert rotated.status_code == 201
    new = rotated.json()["secret"]
    assert rotated.json()["replaces"] == old_id and new != old
    api.clock.advance(seconds=3599)
    assert api.client.get("/v1/keys", headers=api.auth(old)).status_code == 200
    api.clock.advance(seconds=2)
    expired = api.client.get("/v1/keys", headers=api.auth(old))
    assert expired.status_code == 401 and expired.json()["code"] == "api_key_expired"
    assert api.client.get("/v1/keys", headers=api.auth(new)).status_code == 200


@pytest.mark.parametrize("grace", [-1, 604_801])
def test_rotation_grace_period_is_bounded(api, grace):
    secret = api.key()
    key_id = api.client.get("/v1/keys", headers=api.auth(secret)).json()["data"][0]["id"]
    response = api.client.post(
        f"/v1/keys/{key_id}/rotate",
        headers=api.auth(secret),
        json={"old_key_expires_in_seconds": grace},
    )
    assert response.status_code == 422 and response.json()["code"] == "validation_error"


def test_old_keys_carry_a_rotation_warning(api):
    secret = api.key()
    api.clock.advance(days=89)
    fresh = api.client.get("/v1/keys", headers=api.auth(secret))
    assert "Causality-Key-Age-Days" not in fresh.headers and "warnings" not in fresh.json()
    api.clock.advance(days=1)
    old = api.client.get("/v1/keys", headers=api.auth(secret))
    assert old.headers["Causality-Key-Age-Days"] == "90"
    assert old.json()["warnings"] == [
        {"code": "api_key_old", "detail": "api key older than 90 days; rotate"}
    ]
    assert old.json()["data"][0]["age_days"] == 90


def test_keys_of_the_other_mode_are_invisible(api):
    live = api.key(mode="live")
    test = api.key(mode="test")
    test_id = api.client.get("/v1/keys", headers=api.auth(test)).json()["data"][0]["id"]
    assert [
        k["mode"] for k in api.client.get("/v1/keys", headers=api.auth(live)).json()["data"]
    ] == ["live"]
    assert api.client.delete(f"/v1/keys/{test_id}", headers=api.auth(live)).status_code == 404
    crossing = api.client.post(
        "/v1/keys",
        headers=api.auth(live),
        json={"name": "x", "scopes": ["events:write"], "mode": "test"},
    )
    assert crossing.status_code == 403 and crossing.json()["code"] == "mode_mismatch"


def test_key_list_pages_walk_every_key_once(api):
    admin = api.key()
    for n in range(6):
        api.key(name=f"k{n}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"starting_after": cursor} if cursor else {})
        page = api.client.get("/v1/keys", headers=api.auth(admin), params=params).json()
        seen += [k["id"] for k in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == 7 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    both = api.client.get(
        "/v1/keys",
        headers=api.auth(admin),
        params={"starting_after": cursor, "ending_before": cursor},
    )
    assert both.status_code == 400 and both.json()["code"] == "invalid_parameter"


def test_serve_takes_the_key_cache_period_from_the_command_line(tmp_path):
    from causality.api.cli import serve_settings
    from causality.cli import _parser

    def settings(*flags: str):
        return serve_settings(_parser().parse_args(["serve", "--data-dir", str(tmp_path), *flags]))

    assert settings().key_cache_s == 1.0
    assert settings("--key-cache-seconds", "0").key_cache_s == 0.0
    assert settings("--key-cache-seconds", "2.5").key_cache_s == 2.5
    with pytest.raises(ConfigurationError, match="key_cache_s"):
        settings("--key-cache-seconds", "-1")
