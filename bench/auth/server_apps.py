"""The two apps as modules for real servers: ``bench.auth.server_apps:celeris`` / ``:fastapi``.

They read the database from ``BENCH_AUTH_DATABASE``; ``wrk_run.py`` creates the user and the
token beforehand.
"""

import os

from bench.auth.apps import celeris_app, fastapi_app

URL = os.environ.get("BENCH_AUTH_DATABASE", "sqlite:///bench-auth.db")
celeris = celeris_app(URL)[0]
fastapi = fastapi_app(URL)[0]
