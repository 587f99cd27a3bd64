"""Keeps dbkeeper's own records in their own database alias, so that restoring
any other database (the host application's included) cannot touch them."""

from . import conf

APP_LABEL = "dbkeeper"


class ControlRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label == APP_LABEL:
            return conf.control_alias()
        return None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        labels = {obj1._meta.app_label, obj2._meta.app_label}
        if APP_LABEL in labels:
            return labels == {APP_LABEL}
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == APP_LABEL:
            return db == conf.control_alias()
        # Nothing else belongs in a dedicated control database.
        if db == conf.control_alias() and conf.control_alias() != "default":
            return False
        return None
