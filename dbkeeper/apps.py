from django.apps import AppConfig


class DbkeeperConfig(AppConfig):
    name = "dbkeeper"
    verbose_name = "dbkeeper"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401 -- importing it registers dbkeeper's system checks

        # Signal receivers are connected here, once the apps are loaded (as
        # django.contrib.auth does), not as a side effect of importing a module.
        from django.contrib.auth.signals import user_logged_out

        from .access.operation_tokens import revoke_on_logout
        from .notifications.delivery import on_operation_finished
        from .operations.signals import operation_finished

        operation_finished.connect(on_operation_finished, dispatch_uid="dbkeeper.notify_operation_finished")
        user_logged_out.connect(revoke_on_logout, dispatch_uid="dbkeeper.revoke_operation_tokens_on_logout")
