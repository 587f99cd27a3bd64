from django.apps import AppConfig


class DbkeeperConfig(AppConfig):
    name = "dbkeeper"
    verbose_name = "dbkeeper"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401 -- importing it registers dbkeeper's system checks
