"""Durable jobs: attribution runs, reports and imports in a database table with leases."""
