"""`Settings`: everything the API service is configured with, in one frozen object.

The defaults are the values the specification (``specs/api.md``) names; tests
override them, never module globals, so two apps in one process never share state.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from causality.errors import ConfigurationError

ENV_DATA_DIR = "CAUSALITY_DATA_DIR"
ENV_DATABASE_URL = "CAUSALITY_DATABASE_URL"
ENV_CURRENCY = "CAUSALITY_CURRENCY"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


def default_data_dir() -> Path:
    """``$CAUSALITY_DATA_DIR``, else the per-user data directory (``platformdirs``)."""
    configured = os.environ.get(ENV_DATA_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("causality", appauthor=False))


@dataclasses.dataclass(frozen=True)
class RatePolicy:
    """A rate-limit policy: at most ``quota`` requests per ``window`` seconds.

    Examples
    --------
    >>> RatePolicy("default", 100, 1).header()
    '"default";q=100;w=1'
    """

    name: str
    quota: int
    window: int

    def header(self) -> str:
        """The policy in the ``RateLimit-Policy`` header syntax (IETF draft 11)."""
        return f'"{self.name}";q={self.quota};w={self.window}'


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Configuration of one API service (one workspace per data directory).

    Parameters
    ----------
    data_dir : Path
        Where the SQLite database, uploaded imports and report files live. Default:
        ``$CAUSALITY_DATA_DIR``, else the per-user data directory.
    database_url : str, optional
        SQLAlchemy URL; ``postgresql://...`` selects PostgreSQL (psycopg 3). Default: the
        SQLite file ``<data_dir>/causality.sqlite3``.
    currency : str
        The workspace currency (ISO 4217); conversions in another currency are rejected.
    rate_limits : bool
        Whether to enforce the rate-limit policies (headers are sent either way).
    clock : callable
        Returns the current UTC time; tests inject a fake one.
    workers : int
        Job worker threads started with the app (reports, imports, slow attribution runs).
    key_cache_s : float
        Seconds a looked-up API key is reused without reading the database again
        (`causality.api.keystore.KeyCache`). Keys revoked or rotated through this
        server are refused at once; a change made by another process within this
        delay. 0 reads the key on every request.
    event_columns : bool
        Keep each mode's events in memory as columns for attribution
        (`causality.api.columns`); off, every query reads them with SQL.
    event_columns_max_events : int
        A mode with more events is read with SQL (the columns take about 48 bytes per
        event plus ~120 bytes per distinct id or channel string).
    event_columns_follow_s : float
        How often a background thread catches the columns up with the database (0:
        only queries do, when they run).
    """

    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    database_url: str | None = None
    currency: str = "USD"
    rule_set: str = "ga4_default_2026_11"

    # Rate limits (R-L-1, R-L-4).
    rate_limits: bool = True
    live_policy: RatePolicy = RatePolicy("default", 100, 1)
    test_policy: RatePolicy = RatePolicy("default", 25, 1)
    jobs_policy: RatePolicy = RatePolicy("jobs", 10, 60)
    ip_policy: RatePolicy = RatePolicy("ip", 10, 1)

    # Ingestion limits (R-E-4..7).
    max_batch_events: int = 500
    max_body_bytes: int = 1024 * 1024
    max_event_bytes: int = 32 * 1024
    max_import_bytes: int = 200 * 1024 * 1024
    max_future: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(days=7)
    max_offline_age: timedelta = timedelta(days=90)
    import_floor: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    # Keys, idempotency, attribution, jobs.
    key_rotation_days: int = 90
    key_cache_s: float = 1.0
    idempotency_ttl: timedelta = timedelta(hours=24)
    attribution_budget_s: float = 2.0
    attribution_threads: int = 2
    job_lease_s: float = 60.0
    job_max_attempts: int = 3
    job_poll_s: float = 0.5
    report_concurrency: int = 2
    workers: int = 0
    import_chunk_rows: int = 5000

    # The in-memory event columns attribution reads.
    event_columns: bool = True
    event_columns_max_events: int = 20_000_000
    event_columns_follow_s: float = 1.0

    clock: Callable[[], datetime] = utc_now
    log_requests: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        currency = str(self.currency).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ConfigurationError(
                f"currency must be an ISO 4217 code such as 'USD' or 'EUR'; got {self.currency!r}"
            )
        object.__setattr__(self, "currency", currency)
        if self.key_cache_s < 0:
            raise ConfigurationError(
                "key_cache_s (causality serve --key-cache-seconds) must be >= 0 seconds "
                f"(0: read keys on every request); got {self.key_cache_s}"
            )
        if self.workers < 0:
            raise ConfigurationError(f"workers must be >= 0; got {self.workers}")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``CAUSALITY_*`` environment variables, then ``overrides``."""
        values: dict[str, object] = {}
        if os.environ.get(ENV_DATABASE_URL):
            values["database_url"] = os.environ[ENV_DATABASE_URL]
        if os.environ.get(ENV_CURRENCY):
            values["currency"] = os.environ[ENV_CURRENCY]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("data_dir") is None:
            values.pop("data_dir", None)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        """The database URL in force (the SQLite file under ``data_dir`` by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'causality.sqlite3'}"

    def now(self) -> datetime:
        """The current time from the configured clock (aware UTC)."""
        now = self.clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

    def policy_for(self, mode: str) -> RatePolicy:
        """The per-key request policy of a mode (``live`` or ``test``)."""
        return self.live_policy if mode == "live" else self.test_policy
