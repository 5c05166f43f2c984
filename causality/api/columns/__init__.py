"""Stored events as in-memory numpy columns, so attribution never reads them row by row.

`store.EventStore` keeps each mode's touches and conversions in step with the database
(`fetch` reads them, `table.EventColumns` holds them, `labels.Labels` codes the
strings) and `window.window_frame` cuts the event frame of one query from them. Models
that read only the path table skip the frame: `journeys.window_journeys` cuts their
journeys from the codes (`facts` knows how each id sorts), `paths.WindowPaths` keeps
them per person so that new events update the path table instead of rebuilding it, and
`cache.JourneysCache` shares them between queries on the same data.
"""
