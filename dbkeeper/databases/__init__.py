"""The database manager: list the databases of the servers the targets live
on, and create, duplicate, rename, drop them, undo a restore and drop a
pre-restore copy (service.py; the long ones run as operations, runner.py)."""
