"""The store: the SQLite and PostgreSQL backends, the migrations, the `Store` that composes every
capability's port and SQL, and the writes that look across capabilities (`references`)."""
