from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.views.i18n import set_language

from . import api, backups_api, downloads, health_views, pages, schedules_api, schedules_page, status
from . import retention_views

urlpatterns = [
    path("", pages.restore_page, name="restore"),
    path("login/", pages.LoginView.as_view(), name="login"),
    path("login/code/", pages.login_code, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(next_page="dbkeeper:login"), name="logout"),
    path("language/", login_not_required(set_language), name="set_language"),
    path("operations/", pages.operations_page, name="operations"),
    path("backups/", pages.backups_page, name="backups"),
    path("audit/", pages.audit_page, name="audit"),
    path("dashboard/", health_views.dashboard, name="dashboard"),
    path("restore-progress/<str:operation_id>/", pages.progress_page, name="progress"),
    path("restore-progress/<str:operation_id>/status/", status.operation_status, name="operation_status"),
    path("api/restores/", api.start_restore, name="api_restores"),
    path("api/backups/", backups_api.backups, name="api_backups"),
    path("api/backups/retention/", retention_views.retention_preview, name="api_retention"),
    path("api/backups/retention/prune/", retention_views.retention_prune, name="api_retention_prune"),
    path("api/operations/", api.list_operations, name="api_operations"),
    path("api/operations/<str:operation_id>/cancel/", api.cancel_operation, name="api_cancel"),
    path("api/operations/<str:operation_id>/token/", api.new_token, name="api_operation_token"),
    path("api/backups/<str:backup_id>/", backups_api.delete_backup, name="api_backup"),
    path("api/backups/<str:backup_id>/delete/", backups_api.delete_backup, name="api_backup_delete"),
    path("api/backups/<str:backup_id>/verify/", backups_api.verify_backup, name="api_backup_verify"),
    path("api/backups/<str:backup_id>/pin/", backups_api.pin_backup, name="api_backup_pin"),
    path("api/backups/<str:backup_id>/download/", downloads.download_backup, name="api_backup_download"),
    path("api/targets/", api.targets_api, name="api_targets"),
    path("api/targets/<str:name>/plan/", api.target_plan, name="api_target_plan"),
    path("api/audit/", api.audit_api, name="api_audit"),
    path("api/health/", health_views.health_api, name="api_health"),
    path("api/notifications/read/", api.read_notifications, name="api_notifications_read"),
    path("schedules/", schedules_page.schedules_page, name="schedules"),
    path("api/schedules/", schedules_api.schedules, name="api_schedules"),
    path("api/schedules/preview/", schedules_api.preview, name="api_schedules_preview"),
    path("api/schedules/<str:ref>/", schedules_api.schedule, name="api_schedule"),
]
