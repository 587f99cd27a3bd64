import os

from django.core.wsgi import get_wsgi_application

from dbkeeper import logqueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbkeeper.site.settings")
application = get_wsgi_application()
# One log line per request, written by a thread of its own (after Django has
# configured logging): the request does not wait for the terminal or the file.
logqueue.start()
