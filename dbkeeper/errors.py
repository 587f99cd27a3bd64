"""Errors that reach the user. Each carries a stable code (for the JSON API and
tests) and a sentence a person can act on, kept as a ``Message`` (template and
parameters) until it is shown in the reader's language:

    raise BackupRejected(N_("The backup file %(name)s does not exist."), params={"name": path.name})

``exc.sentence`` is the Message; ``exc.message`` and ``str(exc)`` are its
English text, for logs."""

from .messages import Message


class DbkeeperError(Exception):
    code = "error"

    def __init__(self, message, code=None, params=None):
        self.sentence = Message(message, params)
        self.message = self.sentence.english()
        super().__init__(self.message)
        if code:
            self.code = code

    @property
    def params(self) -> dict:
        return self.sentence.params

    def render(self) -> str:
        """The sentence in the active language."""
        return self.sentence.render()


class BackupRejected(DbkeeperError):
    """The backup file is corrupt, unrecognised, or contains something we refuse to run."""

    code = "backup_rejected"


class RestoreFailed(DbkeeperError):
    code = "restore_failed"


class CheckFailed(DbkeeperError):
    code = "check_failed"


class Cancelled(DbkeeperError):
    code = "cancelled"


class TargetBusy(DbkeeperError):
    code = "target_busy"


class TargetError(DbkeeperError):
    code = "target_error"


class WorkerLost(DbkeeperError):
    code = "worker_lost"
