"""Reports for people: one HTML page (or CSV, JSON, PDF) comparing models' credit.

>>> import causality as ca
>>> journeys = ca.Journeys.from_events(ca.datasets.load_example())
>>> rep = ca.report([ca.attribute(journeys, m, n_bootstrap=20) for m in ("last_click", "linear")])
>>> rep.findings[0].startswith("Last click gives")
True
"""

from causality.reports.report import Report, report

__all__ = ["Report", "report"]
