from django.apps import AppConfig


class DbkeeperConfig(AppConfig):
    name = "dbkeeper"
    verbose_name = "dbkeeper"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401 -- importing it registers dbkeeper's system checks
        from .health import checks as alert_checks  # noqa: F401 -- and the alert settings' checks

        # Signal receivers are connected here, once the apps are loaded (as
        # django.contrib.auth does), not as a side effect of importing a module.
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from .access.operation_tokens import revoke_on_logout
        from .access.signin import on_login_failed
        from .audit import receivers as audit
        from .notifications.delivery import on_operation_finished
        from .health import alerts
        from .operations.signals import operation_finished, watchdog_swept

        operation_finished.connect(on_operation_finished, dispatch_uid="dbkeeper.notify_operation_finished")
        user_logged_out.connect(revoke_on_logout, dispatch_uid="dbkeeper.revoke_operation_tokens_on_logout")
        operation_finished.connect(audit.on_operation_finished, dispatch_uid="dbkeeper.audit_operation_finished")
        user_logged_in.connect(audit.on_logged_in, dispatch_uid="dbkeeper.audit_signin")
        user_logged_out.connect(audit.on_logged_out, dispatch_uid="dbkeeper.audit_signout")
        user_login_failed.connect(on_login_failed, dispatch_uid="dbkeeper.signin_failed")
        operation_finished.connect(alerts.on_operation_finished, dispatch_uid="dbkeeper.alerts_operation_finished")
        watchdog_swept.connect(alerts.on_watchdog_sweep, dispatch_uid="dbkeeper.alerts_watchdog_sweep")
