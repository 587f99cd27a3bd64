"""Hashing in a thread of its own, so that it overlaps reading and writing
(hashlib lets go of the GIL on large buffers): the server hashes what it
receives while it receives the next piece; the command-line client hashes
the file while it sends it. No Django here."""

import queue
import threading


class BackgroundHasher:
    """Each piece given to update() goes, in order, to every hashlib object
    in ``hashes``, in a thread of its own; close() waits until all are
    hashed. Pieces must not change afterwards (bytes, or views of bytes)."""

    def __init__(self, hashes, depth=4):
        self.hashes = hashes
        self.error = None
        self.queue = queue.Queue(maxsize=depth) if hashes else None  # at most ``depth`` pieces held
        self.thread = threading.Thread(target=self._run, daemon=True) if hashes else None
        if self.thread:
            self.thread.start()

    def _run(self):
        while (piece := self.queue.get()) is not None:
            if self.error is not None:
                continue  # keep taking pieces so that update() never blocks for ever
            try:
                for h in self.hashes:
                    h.update(piece)
            except Exception as exc:  # handed to the caller by close()
                self.error = exc

    def update(self, piece):
        if self.queue is not None:
            self.queue.put(piece)

    def close(self):
        """Wait until every piece is hashed."""
        if self.thread:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        if self.error is not None:
            raise self.error
