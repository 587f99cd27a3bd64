"""Huey tasks. They run in the worker process (``dbkeeper worker``), never in
a web process."""

import logging

from django.db import close_old_connections

from .queue import huey

log = logging.getLogger(__name__)


@huey.task()
def run_operation(operation_id):
    from . import runner

    close_old_connections()
    try:
        runner.run(operation_id)
    finally:
        close_old_connections()
