"""Settings of dbkeeper's web server processes that gunicorn takes from a
module (``gunicorn -c python:dbkeeper.web.gunicorn_hooks``), not its command line.

The web server yields the processor to the work it reports on: each of its
worker processes lowers its own priority by ``DBKEEPER_WEB_NICE`` (as
``nice``; set by ``dbkeeper web|serve --nice``). Hundreds of open progress
pages polling once a second then take what the restore leaves over instead
of slowing it, and a poll still answers in milliseconds. 0 leaves the
priority as it is."""

import logging
import os

log = logging.getLogger("dbkeeper.web")

NICE_VARIABLE = "DBKEEPER_WEB_NICE"


def post_fork(server, worker):
    try:
        niceness = int(os.environ.get(NICE_VARIABLE) or 0)
    except ValueError:
        log.warning("%s=%r is not a number: the web server keeps its priority", NICE_VARIABLE,
                    os.environ.get(NICE_VARIABLE))
        return
    if niceness > 0:
        os.nice(min(niceness, 19))
