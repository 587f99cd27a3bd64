"""The standalone server's URLs plus a plain multipart upload view, the way
Django apps usually accept a file (``request.FILES``, then saved to
storage), for ``bench/upload_bench.py`` to compare against."""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from dbkeeper.site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def multipart_upload(request):
    upload = request.FILES["file"]  # Django spools it to a temporary file as it parses
    storage = FileSystemStorage(location=str(settings.DATA_DIR / "bench-multipart"))
    name = storage.save(upload.name, upload)  # moved into place, as an app would keep it
    return JsonResponse({"name": name, "size": upload.size})


urlpatterns = [path("bench/multipart/", multipart_upload), *site_urlpatterns]
