from django.apps import AppConfig


class DbkeeperConfig(AppConfig):
    name = "dbkeeper"
    verbose_name = "dbkeeper"
    default_auto_field = "django.db.models.BigAutoField"
