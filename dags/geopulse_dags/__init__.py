"""Helpers the GeoPulse DAG files share: settings from the city config, the Spark task switch,
the per-feed ingest DAG factory, the assets that chain the daily DAGs, the failure callback.

Importing this package is cheap (no Spark, no job modules): the DAG processor parses it often.
"""
