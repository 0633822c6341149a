"""Persistence: one SQLite database (WAL) with numbered schema migrations.

Owns: the connection, migrations, and the tables' access classes (decision log,
and what the admin API stores). Nothing outside this package writes SQL.
"""

from controlplane.store.db import Database

__all__ = ["Database"]
