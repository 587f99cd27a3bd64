"""Progress of a running operation, written to its record.

Engines report what they know (done/total in some unit); this maps it onto one
percent for the whole operation (each stage owns a band), keeps the percent
from going backwards, estimates the time left, and writes at most a few times a
second. It is also where an engine learns that the user asked to cancel.
"""

import logging
import threading
import time

from django.utils import timezone

from .. import conf
from ..engines.base import Reporter
from ..errors import Cancelled
from ..messages import Message, N_
from .models import Operation

log = logging.getLogger(__name__)

# Share of the overall percent that each stage covers (start, end).
STAGE_BANDS = {
    Operation.Stage.VALIDATING: (0.0, 3.0),
    Operation.Stage.RESTORING: (3.0, 95.0),
    Operation.Stage.BACKING_UP: (0.0, 99.0),
    Operation.Stage.CHECKING: (95.0, 98.0),
    Operation.Stage.SWAPPING: (98.0, 99.5),
    Operation.Stage.DONE: (100.0, 100.0),
}

PROGRESS_FIELDS = ["stage", "percent", "done", "total", "unit", "message", "message_data", "eta_seconds", "updated_at"]


class Progress(Reporter):
    def __init__(self, operation: Operation, listener=None):
        self.op = operation
        self.listener = listener  # called with the operation after each write (CLI bar)
        self._lock = threading.Lock()
        self._min_interval = 1.0 / max(0.1, float(conf.get("PROGRESS_WRITES_PER_SECOND")))
        self._last_write = 0.0
        self._dirty = False
        self._stage_started = time.monotonic()
        self._stage_percent_at_start = operation.percent
        self._last_cancel_check = 0.0

    # -- what engines call ---------------------------------------------------
    # A ``message`` is a Message, or a template (N_/Np_) with its ``params``;
    # it is stored as English text plus data, and translated when shown.
    def stage(self, stage, message="", params=None):
        sentence = Message(message, params) if message else None
        with self._lock:
            self.op.stage = stage
            start, _ = STAGE_BANDS.get(stage, (self.op.percent, self.op.percent))
            self.op.percent = max(self.op.percent, start)
            self.op.done, self.op.total, self.op.unit = 0, 0, ""
            self.op.eta_seconds = None
            if sentence is not None:
                self._set_message(sentence)
            self._stage_started = time.monotonic()
            self._stage_percent_at_start = self.op.percent
            self._dirty = True
        self.flush(force=True)
        if sentence is not None:
            self.event(sentence)

    def set_total(self, total, unit="bytes"):
        with self._lock:
            self.op.total = max(0, int(total))
            self.op.unit = unit
            self._dirty = True
        self.flush()

    def advance(self, done, message=None, params=None):
        """``done`` is absolute within the current stage, in the unit of set_total."""
        with self._lock:
            self.op.done = max(self.op.done, int(done))
            if self.op.total:
                self.op.done = min(self.op.done, self.op.total)
                fraction = self.op.done / self.op.total
                start, end = STAGE_BANDS.get(self.op.stage, (0.0, 99.0))
                self.op.percent = max(self.op.percent, round(start + (end - start) * fraction, 2))
                self.op.eta_seconds = self._eta(fraction)
            if message is not None:
                self._set_message(Message(message, params))
            self._dirty = True
        self.flush()
        self.check_cancel()

    def message(self, message, params=None):
        with self._lock:
            self._set_message(Message(message, params))
            self._dirty = True
        self.flush()

    def event(self, message, level="info", code="", params=None):
        sentence = Message(message, params)
        log.info("operation %s: %s", self.op.id, sentence.english())
        self.op.add_event(sentence, level=level, code=code)

    def _set_message(self, sentence: Message):
        # No data for an empty message: gettext("") would be the catalog's header.
        text = sentence.english()
        self.op.message, self.op.message_data = text, sentence.to_json() if text else None

    def check_cancel(self):
        """Raise Cancelled if the user asked to cancel (checked at most once a second)."""
        now = time.monotonic()
        if now - self._last_cancel_check < 1.0:
            return
        self._last_cancel_check = now
        requested = Operation.objects.filter(pk=self.op.pk).values_list("cancel_requested", flat=True).first()
        if requested:
            raise Cancelled(N_("The restore was cancelled."))

    # -- writing -------------------------------------------------------------
    def flush(self, force=False):
        with self._lock:
            now = time.monotonic()
            if not self._dirty or (not force and now - self._last_write < self._min_interval):
                return
            self._last_write = now
            self._dirty = False
            self.op.updated_at = timezone.now()
            values = {f: getattr(self.op, f) for f in PROGRESS_FIELDS}
        # A plain UPDATE of the progress fields only: never overwrite the
        # status or the cancel flag that someone else may have written.
        Operation.objects.filter(pk=self.op.pk).update(**values)
        if self.listener:
            self.listener(self.op)

    def _eta(self, fraction):
        elapsed = time.monotonic() - self._stage_started
        if fraction <= 0.01 or elapsed < 1:
            return None
        stage_left = elapsed * (1 - fraction) / fraction
        # Later stages are short next to restoring; this is the user's estimate.
        return int(stage_left + 1)


class Heartbeat:
    """Writes the operation's heartbeat from a thread while the work runs, so
    the watchdog can tell a busy worker from a dead one."""

    def __init__(self, operation_id):
        self.operation_id = operation_id
        self.interval = float(conf.get("HEARTBEAT_SECONDS"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{operation_id}", daemon=True)

    def __enter__(self):
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self):
        Operation.objects.filter(pk=self.operation_id).update(heartbeat_at=timezone.now())

    def _run(self):
        from django.db import connections

        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # a missed beat is not fatal; the next may succeed
                    log.warning("heartbeat write failed for %s", self.operation_id, exc_info=True)
        finally:
            connections.close_all()
