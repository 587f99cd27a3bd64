"""What every restore target can do. A target addresses one database; its
scratch twin is another target of the same kind, beside it."""

from abc import ABC, abstractmethod

from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import N_


class Target(ABC):
    kind = ""

    def __init__(self, url: DbUrl, spec: str = ""):
        self.url = url
        # What resolves this target again later (configured name, alias or URL).
        self.spec = spec or url.to_url()

    @property
    def name(self) -> str:
        return self.url.name

    def display(self) -> str:
        return self.url.display()

    def lock_key(self) -> str:
        """Identifies the database, whatever name or URL was used to reach it."""
        return f"{self.kind}:{self.url.host}:{self.url.port}:{self.url.name}"

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def scratch(self, operation_id: str) -> "Target":
        """The scratch database a restore of this target writes into."""

    @abstractmethod
    def create(self) -> None:
        """Create this (empty) database; fails if it exists."""

    @abstractmethod
    def drop(self) -> None:
        """Drop this database if it exists, ending its connections first."""

    @abstractmethod
    def tables(self) -> set[str]:
        """Names of the user tables ("schema.table" for PostgreSQL)."""

    @abstractmethod
    def row_counts(self) -> dict[str, int]:
        """Exact row counts of the user tables, named as the backup makers name
        them in the catalog (what a verification compares with it)."""

    @abstractmethod
    def swap_in(self, scratch: "Target", prerestore_name: str) -> str | None:
        """Replace this database by ``scratch``. The current one is kept as
        ``prerestore_name`` (returned); None if there was no current one. A
        failure leaves the current database as it was."""

    @abstractmethod
    def prerestore_name(self, operation_id: str) -> str: ...

    def on_same_server(self, name: str) -> "Target":
        """The database ``name`` beside this one, reached the same way (a
        restore into a new database). Only a database server has such."""
        raise TargetError(N_("A %(kind)s target has no server to create another database on."),
                          code="wrong_target_kind", params={"kind": self.kind})

    def put_in_place(self, scratch: "Target") -> None:
        """Make ``scratch`` this database, which must not exist: a restore
        into a new database never replaces one."""
        raise TargetError(N_("A %(kind)s target has no server to create another database on."),
                          code="wrong_target_kind", params={"kind": self.kind})

    @abstractmethod
    def drop_named(self, name: str) -> None:
        """Drop a sibling database (a pre-restore copy or a scratch) by name."""

    def database_size(self, name: str) -> int | None:
        """Bytes a sibling database (a pre-restore copy) takes; None if unknown or gone."""
        return None

    def check(self) -> None:
        """Engine-independent health check of a restored scratch database."""
