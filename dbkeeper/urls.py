"""Mount with ``path("some-prefix/", include("dbkeeper.urls"))``."""


app_name = "dbkeeper"

urlpatterns = []

# Each part adds its own routes.
from .web.urls import urlpatterns as _web  # noqa: E402

urlpatterns += _web
from .uploads.urls import urlpatterns as _uploads  # noqa: E402

urlpatterns += _uploads
