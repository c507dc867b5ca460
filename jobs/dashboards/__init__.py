"""Superset dashboards as code: the asset bundle under dashboards/ and a local Superset to show it."""
