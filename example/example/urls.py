from django.urls import include, path

from shop import views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("accounts/", include("django.contrib.auth.urls")),
    # dbkeeper's restore page, under the prefix this application chose.
    path("odoo-db-manager/", include("dbkeeper.urls")),
]
