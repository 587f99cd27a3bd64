"""Periodic clean-up of uploads, run by the worker (``dbkeeper worker``)."""

import logging

from django.db import close_old_connections
from huey import crontab

from ..operations.queue import huey

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="*"))
def delete_expired_uploads():
    from . import service

    close_old_connections()
    try:
        service.fail_abandoned_completions()
        count = service.delete_expired()
        if count:
            log.info("deleted %s expired upload(s)", count)
        return count
    finally:
        close_old_connections()
