"""Errors that reach the user. Each carries a stable code (for the JSON API and
tests) and a sentence a person can act on."""


class DbkeeperError(Exception):
    code = "error"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code


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
