from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

urlpatterns = [
    path("", include("dbkeeper.urls")),
    # The standalone server serves its own few static files (no separate web server in front).
    re_path(r"^%s(?P<path>.*)$" % settings.STATIC_URL.lstrip("/"), serve, {"insecure": True}),
]
