"""Settings for the upload benchmark only: the standalone server's, with
``bench/multipart_urls.py`` adding one plain multipart upload view. dbkeeper
itself never ships such a view."""

from dbkeeper.site.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.multipart_urls"
