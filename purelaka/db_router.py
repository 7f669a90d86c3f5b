"""The database router: reads follow the analytics read scope (core/replica.py),
writes and migrations go to the primary (docs/deployment.md)."""

from core.replica import DEFAULT, read_alias


class AnalyticsReplicaRouter:
    """Reads follow the analytics scope (never inside a transaction on the
    primary); writes and migrations go to the primary."""

    def db_for_read(self, model, **hints):
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the primary's rows: one database

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT
