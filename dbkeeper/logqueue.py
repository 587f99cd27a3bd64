"""Log lines written by a thread of their own, off the request path.

The web server writes one line per request, and hundreds of open progress
pages each ask once a second: writing those lines (a terminal, a file that is
checked for rotation before each line) cost a poll more than answering it,
and the time came out of the restore sharing the processor. ``start()`` puts
a ``QueueHandler`` in place of the root logger's handlers: a request only
formats its line and puts it on a queue, and a ``QueueListener`` thread hands
it to the handlers that were there (each at its own level), waking at most
every GATHER_SECONDS to write what gathered meanwhile.

Nothing is lost when the process stops normally (gunicorn's graceful stop on
SIGTERM ends with ``sys.exit``): an ``atexit`` function, run before logging's
own, writes what is still queued and gives the root logger its handlers back,
so a line logged after it is written directly."""

import atexit
import logging
import queue
import threading
import time
from logging.handlers import QueueHandler, QueueListener

log = logging.getLogger(__name__)

_lock = threading.Lock()
_running = None  # (QueueHandler, QueueListener, the handlers it writes to)


class _LineQueueHandler(QueueHandler):
    def prepare(self, record):
        record = super().prepare(record)
        # The message already holds the stack, if any (Python 3.11 leaves it for a second copy).
        record.stack_info = None
        return record


# The writing thread wakes at most this often: the lines that come meanwhile
# wait in the queue and are written in one go.
GATHER_SECONDS = 0.05


class _GatheringListener(QueueListener):
    """A listener that lets lines gather: a thread woken for each line (and
    the interpreter handed over to it and back) cost a poll more than
    writing its line."""

    def dequeue(self, block):
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            if not block:
                raise
        time.sleep(GATHER_SECONDS)
        return self.queue.get(block)


def start():
    """Write the root logger's lines from a thread of this process; a second
    call, or a root logger with no handlers, changes nothing. Returns whether
    the lines now go through the queue."""
    global _running
    with _lock:
        if _running is not None:
            return True
        root = logging.getLogger()
        handlers = list(root.handlers)
        if not handlers:
            return False
        lines = queue.SimpleQueue()
        listener = _GatheringListener(lines, *handlers, respect_handler_level=True)
        handler = _LineQueueHandler(lines)
        listener.start()
        # One assignment: no line is written twice or by nobody meanwhile.
        root.handlers = [h for h in root.handlers if h not in handlers] + [handler]
        _running = (handler, listener, handlers)
    atexit.register(stop)
    return True


def stop():
    """Write every queued line and give the root logger its handlers back."""
    global _running
    with _lock:
        if _running is None:
            return
        handler, listener, handlers = _running
        _running = None
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if h is not handler] + handlers
        listener.stop()  # the lines queued before this one are written first
    for h in handlers:
        try:
            h.flush()
        except (OSError, ValueError):  # a closed terminal: the file still got its lines
            pass


def running() -> bool:
    return _running is not None
