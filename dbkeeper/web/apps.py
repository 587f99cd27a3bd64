from django.apps import AppConfig


class WebConfig(AppConfig):
    """The pages, their templates, static files and translations. Add
    "dbkeeper.web" to INSTALLED_APPS next to "dbkeeper" so Django finds them."""

    name = "dbkeeper.web"
    label = "dbkeeper_web"
    verbose_name = "dbkeeper web"
