"""Database URLs: ``postgresql://user:pass@host:port/name`` and
``sqlite:////absolute/path.db``, turned into parts, Django settings, or a
display string that never shows the password.

What is wrong with a URL is a ValueError whose argument is a phrase (a
Message), for "The target URL is not valid: …"; ``str()`` gives its English."""

from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .messages import Message, N_


@dataclass(frozen=True)
class DbUrl:
    kind: str  # "postgresql" or "sqlite"
    name: str  # database name, or file path for SQLite
    user: str = ""
    password: str = field(default="", repr=False)
    host: str = ""
    port: str = ""
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def parse(cls, url: str) -> "DbUrl":
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("postgres", "postgresql", "pgsql"):
            name = unquote(parts.path.lstrip("/"))
            if not name:
                raise ValueError(Message(N_("a PostgreSQL URL must name a database: %(example)s"),
                                         {"example": "postgresql://user@host:port/NAME"}))
            options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            host = unquote(parts.hostname or "") or options.pop("host", "")
            return cls(
                kind="postgresql",
                name=name,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                host=host,
                port=str(parts.port or options.pop("port", "") or ""),
                options=options,
            )
        if scheme == "sqlite":
            # sqlite:////abs/path.db -> /abs/path.db (three slashes, then the path)
            path = unquote(url.split(":", 1)[1][3:]) if url.split(":", 1)[1].startswith("///") else ""
            if not path.startswith("/"):
                raise ValueError(Message(N_("a SQLite URL needs an absolute path: %(example)s"),
                                         {"example": "sqlite:////absolute/path.db"}))
            return cls(kind="sqlite", name=path)
        raise ValueError(Message(N_("unsupported database URL scheme %(scheme)s: use %(postgresql)s or %(sqlite)s"),
                                 {"scheme": repr(parts.scheme), "postgresql": "postgresql://", "sqlite": "sqlite:///"}))

    def with_name(self, name: str) -> "DbUrl":
        return DbUrl(self.kind, name, self.user, self.password, self.host, self.port, dict(self.options))

    def to_url(self, show_password=True) -> str:
        if self.kind == "sqlite":
            return "sqlite:///" + self.name
        auth = quote(self.user, safe="") if self.user else ""
        if self.password:
            auth += ":" + (quote(self.password, safe="") if show_password else "***")
        if auth:
            auth += "@"
        host = self.host if self.host and not self.host.startswith("/") else ""
        port = f":{self.port}" if self.port else ""
        query = ""
        opts = dict(self.options)
        if self.host.startswith("/"):
            opts["host"] = self.host
        if opts:
            query = "?" + "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in opts.items())
        return f"postgresql://{auth}{host}{port}/{quote(self.name, safe='')}{query}"

    def display(self) -> str:
        return self.to_url(show_password=False)

    def django_settings(self) -> dict:
        if self.kind == "sqlite":
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": self.name}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": self.port,
            "OPTIONS": dict(self.options),
        }

    @classmethod
    def from_django_settings(cls, db: dict) -> "DbUrl":
        engine = db.get("ENGINE", "")
        if engine.endswith("sqlite3"):
            return cls(kind="sqlite", name=str(db["NAME"]))
        if "postgresql" in engine:
            return cls(
                kind="postgresql",
                name=db["NAME"],
                user=db.get("USER") or "",
                password=db.get("PASSWORD") or "",
                host=db.get("HOST") or "",
                port=str(db.get("PORT") or ""),
                options={k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, (str, int))},
            )
        raise ValueError(Message(N_("database engine %(engine)s is not supported (PostgreSQL and SQLite are)"),
                                 {"engine": repr(engine)}))

    def libpq_env(self) -> dict:
        """Environment for pg_restore/psql/pg_dump: the password travels here,
        never on a command line."""
        env = {"PGDATABASE": self.name}
        if self.host:
            env["PGHOST"] = self.host
        if self.port:
            env["PGPORT"] = self.port
        if self.user:
            env["PGUSER"] = self.user
        if self.password:
            env["PGPASSWORD"] = self.password
        if "sslmode" in self.options:
            env["PGSSLMODE"] = self.options["sslmode"]
        return env

    def connect_kwargs(self, dbname=None) -> dict:
        kwargs = {"dbname": dbname or self.name}
        for key, value in (("host", self.host), ("port", self.port), ("user", self.user), ("password", self.password)):
            if value:
                kwargs[key] = value
        for key, value in self.options.items():
            if key in ("sslmode", "connect_timeout", "application_name"):
                kwargs[key] = value
        return kwargs
