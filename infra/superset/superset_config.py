"""Superset configuration for GeoPulse (local demo and browser tests).

Reads its settings from the environment: SUPERSET_HOME (folder of the SQLite metadata DB),
SUPERSET_SECRET_KEY (a fixed local default otherwise). Caches are in-process; nothing is
reached outside 127.0.0.1.
"""
import os

_HOME = os.environ.get("SUPERSET_HOME", os.path.join(os.getcwd(), "data", "superset"))

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "geopulse-local-demo-not-secret")
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(_HOME, "superset.db") + "?check_same_thread=false"
TALISMAN_ENABLED = False
PREVENT_UNSAFE_DB_CONNECTIONS = False  # the serving database is a local DuckDB file
RATELIMIT_STORAGE_URI = "memory://"
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}  # always read the freshly published data
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache"}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache"}
FEATURE_FLAGS = {"DASHBOARD_RBAC": False}
MAPBOX_API_KEY = os.environ.get("MAPBOX_API_KEY", "")
SUPERSET_WEBSERVER_TIMEOUT = 120
WTF_CSRF_ENABLED = True
