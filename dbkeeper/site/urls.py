from django.urls import include, path

urlpatterns = [path("", include("dbkeeper.urls"))]
