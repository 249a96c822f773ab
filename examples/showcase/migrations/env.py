"""Alembic environment written by `celeris db init`.

celeris passes the database URL and the models' metadata in; there is nothing to edit here.
Run migrations with `celeris db upgrade`, create them with `celeris db revision --autogenerate`.
"""

from celeris.db.migrations import run_environment

run_environment()
