"""Persistence: one database, a SQLite file (WAL) or a PostgreSQL server, with numbered migrations.

Owns: the connection and its backends, migrations, and the tables' access classes
(decision log, and what the admin API stores). Nothing outside this package writes SQL.
"""

from controlplane.store.db import Database

__all__ = ["Database"]
