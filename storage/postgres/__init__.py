"""The PostgreSQL store (`storage.postgres.store.PostgresStore`), for many workers on one
database (PRODUCT §9); needs asyncpg: `pip install 'watchparty[postgres]'`."""
