"""Journeys from event logs held in Spark, for data beyond one machine (extra ``spark``).

`journeys_from_spark` takes a PySpark DataFrame in the event schema of
`causality.Journeys.from_events` and returns the same `causality.Journeys`; Spark does
the validation, identity stitching and journey cutting on the cluster.
"""

from causality.spark.journeys import journeys_from_spark

__all__ = ["journeys_from_spark"]
