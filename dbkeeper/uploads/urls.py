"""Routes of the uploads part, relative to dbkeeper's mount point."""

from django.urls import path

from . import tus, views

urlpatterns = [
    path("api/uploads/", tus.uploads, name="tus"),
    path("api/uploads/<str:upload_id>", tus.upload, name="tus_upload"),
    path("api/uploads/<str:upload_id>/result", tus.upload_result, name="upload_result"),
    path("uploads/new/", views.new_upload, name="upload_new"),
]
