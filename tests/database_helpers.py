"""What the database manager's tests share: a database's data as a
snapshot, an operation run here, and a signed-in client for the API."""

from django.test import Client

from dbkeeper.operations import runner

from .dbsnapshot import pg_snapshot
from .pgserver import conninfo


def snap(pg, name):
    """Row counts and checksums of every table of the database ``name``."""
    return pg_snapshot(conninfo(pg, name))


def run(op):
    """Run the operation here (no worker) and return it as it ended."""
    runner.run(op.id)
    op.refresh_from_db()
    return op


def csrf_client(user):
    """A client signed in as ``user``, and its CSRF token (set by the page it opened)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")
    return client, client.cookies["csrftoken"].value


def post(client, csrf, url, **body):
    """A JSON POST with the CSRF header."""
    return client.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)


def drop_leftovers(pg, names, live, created):
    """Drop the databases ``names``, every sibling (scratch or pre-restore copy)
    of the target database ``live`` and of the database ``created`` from a
    backup, and the owner role a restore gave ``created``'s objects."""
    from dbkeeper.targets.postgres import is_sibling

    for db in pg.databases():
        if db in names or is_sibling(live, db) or is_sibling(created, db):
            pg.drop_db(db)
    with pg.connect() as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{created}_owner"')
