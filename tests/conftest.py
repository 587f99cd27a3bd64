import pytest

from .pgserver import PgServer


@pytest.fixture(scope="session")
def pg():
    """One real PostgreSQL server for the whole test session."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_dbname(pg, request):
    """A database name unique to the test; dropped afterwards with its scratch and pre-restore siblings."""
    import re

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    pg.drop_db(name)
    yield name
    from dbkeeper.targets.postgres import is_sibling

    for db in pg.databases():
        if db == name or is_sibling(name, db):
            pg.drop_db(db)
