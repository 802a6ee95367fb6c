"""The store: one SQL text for SQLite and PostgreSQL, the transaction runner, migrations."""
