from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

from shop import views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("accounts/", include("django.contrib.auth.urls")),
    # dbkeeper's restore page, under the prefix this application chose.
    path("odoo-db-manager/", include("dbkeeper.urls")),
    # The example runs without a web server in front; a real project serves
    # collectstatic's folder with its web server instead.
    re_path(r"^%s(?P<path>.*)$" % settings.STATIC_URL.lstrip("/"), serve, {"insecure": True}),
]
