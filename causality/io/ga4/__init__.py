"""Read GA4 BigQuery exports (NDJSON, JSON arrays, Parquet) as event logs.

``read_ga4(path)`` returns the event frame `Journeys.from_events` takes; ``iter_ga4(path)``
streams it batch by batch in bounded memory (what the API's import jobs use). See
`read_ga4` for how export rows become touches, conversions and identity links.

Modules: `sources` finds files and parses them into Arrow batches, `fields` pulls the
needed fields out of a batch, `events` turns a batch into event rows (with de-duplication
across batches), `reader` holds the public functions.
"""

from causality.io.ga4.events import EVENT_COLUMNS, GA4Stats
from causality.io.ga4.reader import GA4Batches, iter_ga4, read_ga4

__all__ = ["EVENT_COLUMNS", "GA4Batches", "GA4Stats", "iter_ga4", "read_ga4"]
