"""Mount with ``path("some-prefix/", include("dbkeeper.urls"))``."""


app_name = "dbkeeper"

urlpatterns = []

# Each part adds its own routes.
from .web.urls import urlpatterns as _web  # noqa: E402

urlpatterns += _web
from .uploads.urls import urlpatterns as _uploads  # noqa: E402

urlpatterns += _uploads

# Last: what no route above matched under api/ is answered in JSON.
from django.urls import re_path  # noqa: E402

from .web.fallback import api_not_found  # noqa: E402

urlpatterns += [re_path(r"^api/", api_not_found, name="api_not_found")]
