"""What PostgreSQL says about roles, privileges and versions, asked in one place.

A backup is input from outside: its SQL must never run as a role that could
reach past the database it restores (run programs, read the server's files,
create roles, act as another application). ``privileges`` tells whether a
role is such a role; ``RoleFacts`` which roles a restoring session may name;
``statement_roles`` which roles an ownership or privilege statement names.
"""

import functools
import re
import subprocess
from dataclasses import dataclass, field

from ..messages import Message, N_

# Membership in these lets SQL reach the server's programs and files.
SERVER_ACCESS_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")
# Words that stand where a role name goes but are not roles.
ROLE_SPECS = {"public", "current_user", "session_user", "current_role"}

# For each role: whether it is, or is a member (directly or not) of, a role
# with one of the attributes or memberships that reach past one database.
_PRIVILEGED_SQL = """
SELECT r.rolname, r.rolsuper, r.rolcreaterole,
       array_remove(ARRAY[
           CASE WHEN bool_or(p.rolsuper) THEN 'SUPERUSER' END,
           CASE WHEN bool_or(p.rolcreaterole) THEN 'CREATEROLE' END,
           CASE WHEN bool_or(p.rolreplication) THEN 'REPLICATION' END,
           CASE WHEN bool_or(p.rolbypassrls) THEN 'BYPASSRLS' END
       ] || array_agg(p.rolname::text ORDER BY p.rolname) FILTER (WHERE p.rolname = ANY(%(server)s)), NULL)
FROM pg_roles r
JOIN pg_roles p ON pg_has_role(r.oid, p.oid, 'MEMBER')
WHERE {where}
GROUP BY r.rolname, r.rolsuper, r.rolcreaterole
"""


@dataclass
class Privileges:
    """What a role may do beyond its own objects."""

    role: str
    superuser: bool
    createrole: bool
    reasons: list = field(default_factory=list)  # attributes and roles that make it privileged

    @property
    def privileged(self) -> bool:
        return bool(self.reasons)

    @property
    def can_create_roles(self) -> bool:
        return self.superuser or self.createrole


def privileges(conn, role=None) -> Privileges:
    """The privileges of ``role`` (the session's user when None)."""
    where = "r.rolname = %(role)s" if role else "r.rolname = current_user"
    row = conn.execute(_PRIVILEGED_SQL.format(where=where),
                       {"server": list(SERVER_ACCESS_ROLES), "role": role}).fetchone()
    if row is None:
        return Privileges(role or "", False, False)
    name, superuser, createrole, reasons = row
    return Privileges(name, superuser, createrole, list(reasons or []))


def all_privileges(conn) -> dict:
    """Role name -> Privileges, for every role of the server."""
    rows = conn.execute(_PRIVILEGED_SQL.format(where="true"), {"server": list(SERVER_ACCESS_ROLES)}).fetchall()
    return {name: Privileges(name, su, cr, list(reasons or [])) for name, su, cr, reasons in rows}


def describe(priv: Privileges) -> Message:
    """"superuser" or "a member of pg_read_server_files", for a sentence."""
    if priv.superuser:
        return Message(N_("a superuser"))
    return Message(N_("privileged (%(what)s)"), {"what": priv.reasons})


class RoleFacts:
    """Which roles the server has, and which of them a session's user may act
    as (all of them for a superuser; else those it is a member of)."""

    def __init__(self, user, superuser, existing, usable):
        self.user, self.superuser = user, superuser
        self._existing, self._usable = set(existing), set(usable)

    @classmethod
    def of(cls, target):
        """For the user the target's content sessions run as."""
        with target.connect() as conn:
            return cls.of_connection(conn)

    @classmethod
    def of_connection(cls, conn):
        user, superuser = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        existing = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles")]
        usable = existing if superuser else [r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')")]
        return cls(user, superuser, existing, usable)

    @property
    def existing(self) -> set:
        return set(self._existing)

    def exists(self, role) -> bool:
        return role in self._existing or role.lower() in ROLE_SPECS

    def usable(self, role) -> bool:
        return role in self._usable or role.lower() in ROLE_SPECS


# -- versions ------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def client_version(tool_path) -> tuple | None:
    """(major, minor) of a PostgreSQL client tool (psql, pg_restore), None if it does not say."""
    try:
        out = subprocess.run([tool_path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def server_version_num(conn) -> int:
    """The server's version as PostgreSQL's server_version_num (150004 for 15.4)."""
    return conn.info.server_version


# -- roles named by statements ---------------------------------------------------

def _role_list(tokens, i):
    """Role names from tokens[i]: NAME [, NAME ...]."""
    roles = []
    while i < len(tokens):
        token = tokens[i]
        if token.kind in ("word", "quoted", "string") and token.text:
            roles.append(token.text)
        else:
            break
        if i + 1 < len(tokens) and tokens[i + 1].text == "," and tokens[i + 1].kind == "punct":
            i += 2
            continue
        break
    return roles


def statement_roles(statement) -> tuple[list, list]:
    """The roles an ownership or privilege statement (a sqlscan Statement)
    names, as (acting, grantees): roles the restoring user must act as (ALTER
    ... OWNER TO, SET SESSION AUTHORIZATION, ALTER DEFAULT PRIVILEGES FOR
    ROLE, GRANTED BY) and roles privileges go to or from (GRANT ... TO, REVOKE
    ... FROM). Both are empty for any other statement."""
    acting, grantees = [], []
    first = statement.first_word()
    if first not in ("alter", "grant", "revoke", "set") or not statement.terminated:
        return acting, grantees
    head = statement.tokens
    last = statement.last_tokens()
    if not last or last[-1].text != ";":
        return acting, grantees
    words = [t.text if t.kind == "word" else None for t in head[:4]]
    if first == "set":
        switch = role_switch(statement)
        if switch and switch[1]:
            acting = [switch[1]]
        return acting, grantees
    if first == "alter" and words[1:3] == ["default", "privileges"]:
        for i, t in enumerate(head):
            if t.kind == "word" and t.text == "for" and i + 2 < len(head) and head[i + 1].text in ("role", "user"):
                acting += _role_list(head, i + 2)
                break
        first = next((t.text for t in head if t.kind == "word" and t.text in ("grant", "revoke")), "")
    elif first == "alter":
        if len(last) >= 4 and [t.text for t in last[-4:-2]] == ["owner", "to"] and last[-4].kind == "word":
            acting = _role_list(last, len(last) - 2)
        return acting, grantees
    keyword = {"grant": "to", "revoke": "from"}.get(first)
    if keyword is None:
        return acting, grantees
    for i in range(len(last) - 1, -1, -1):
        t = last[i]
        if t.kind == "word" and t.depth == 0 and t.text == keyword:
            grantees = _role_list(last, i + 1)
            break
    for i, t in enumerate(last):
        if t.kind == "word" and t.text == "granted" and i + 2 < len(last) and last[i + 1].text == "by":
            acting += _role_list(last, i + 2)
    return acting, grantees


def role_switch(statement) -> tuple | None:
    """("role" or "session authorization", role or None) for a statement that
    changes the role the session acts as: ``SET [SESSION|LOCAL] ROLE r``,
    ``SET [SESSION|LOCAL] SESSION AUTHORIZATION r`` (the role is None for
    ``NONE``/``DEFAULT``), ``RESET ROLE``, ``RESET SESSION AUTHORIZATION``.
    None for any other statement (a ``SET`` inside a function body is not
    seen: it is part of that statement)."""
    first = statement.first_word()
    if first not in ("set", "reset") or not statement.terminated:
        return None
    tokens = statement.tokens
    if not tokens or tokens[-1].text != ";" or statement.tail:
        return None
    words = [t.text if t.kind == "word" else None for t in tokens]
    i = 1
    if first == "set":
        while i < len(words) - 2 and words[i] in ("session", "local") and words[i + 1] != "authorization":
            i += 1
    if words[i:i + 1] == ["role"]:
        what, i = "role", i + 1
    elif words[i:i + 2] == ["session", "authorization"]:
        what, i = "session authorization", i + 2
    elif words[i:i + 1] == ["session_authorization"]:
        what, i = "session authorization", i + 1
    else:
        return None
    if first == "set" and i < len(tokens) and tokens[i].text in ("to", "=") and tokens[i].kind != "string":
        i += 1  # the variable's form: SET role TO r, SET session_authorization = r
    if first == "reset":
        return (what, None) if i == len(tokens) - 1 else None
    if i != len(tokens) - 2 or tokens[i].kind not in ("word", "quoted", "string") or not tokens[i].text:
        return None
    role = tokens[i].text
    if tokens[i].kind == "word" and role in ("none", "default"):
        return what, None
    return what, role


def statements_roles(text: str) -> list:
    """(statement, acting, grantees) for each statement of a short SQL text (an archive entry's definition)."""
    from ..engines.sqlscan import SqlScanner

    found = []

    def on_statement(statement):
        acting, grantees = statement_roles(statement)
        found.append((statement, acting, grantees))

    scanner = SqlScanner(on_statement=on_statement)
    scanner.feed(text.encode("utf-8"))
    scanner.finish()
    return found


def is_default_privileges(statement) -> bool:
    words = [t.text if t.kind == "word" else None for t in statement.tokens[:3]]
    return words == ["alter", "default", "privileges"]


def default_privilege_statements(text: str) -> list:
    """(statement text, acting roles) for each ``ALTER DEFAULT PRIVILEGES FOR
    ROLE ...`` statement of an archive entry's definition."""
    raw = text.encode("utf-8")
    return [(raw[s.start:s.end].decode("utf-8"), acting) for s, acting, _ in statements_roles(text)
            if is_default_privileges(s) and len(acting) == 1]


# Object kinds an ownership statement names, longest first, and the kind
# pg_identify_object gives the same objects.
_OWNED_KINDS = [
    (("materialized", "view"), "relation"), (("foreign", "table"), "relation"), (("table",), "relation"),
    (("view",), "relation"), (("sequence",), "relation"), (("function",), "routine"), (("procedure",), "routine"),
    (("aggregate",), "routine"), (("routine",), "routine"), (("schema",), "schema"), (("type",), "type"),
    (("domain",), "type"), (("large", "object"), "large object"),
]


def owner_statement_object(statement) -> tuple | None:
    """(kind, schema, name) of the object an ``ALTER <kind> <name> OWNER TO
    role;`` statement names, as ``owned_objects`` keys it; None for others."""
    tokens = statement.tokens
    if statement.first_word() != "alter":
        return None
    words = [t.text if t.kind == "word" else None for t in tokens[1:3]]
    for phrase, kind in _OWNED_KINDS:
        if tuple(words[:len(phrase)]) == phrase:
            i = 1 + len(phrase)
            break
    else:
        return None
    if kind == "large object":
        return (kind, "", tokens[i].text) if i < len(tokens) else None
    parts = _dotted(tokens, i)
    if not parts:
        return None
    if kind == "schema":
        return (kind, "", parts[-1])
    return (kind, parts[-2] if len(parts) > 1 else "public", parts[-1])


def _dotted(tokens, i) -> list:
    """The parts of a possibly schema-qualified name starting at tokens[i]."""
    parts = []
    while i < len(tokens) and tokens[i].kind in ("word", "quoted"):
        parts.append(tokens[i].text)
        if i + 1 < len(tokens) and tokens[i + 1].kind == "punct" and tokens[i + 1].text == ".":
            i += 2
            continue
        break
    return parts


def _qualified(tokens, i, kind):
    """(kind, schema, name) from a possibly schema-qualified name at tokens[i]."""
    parts = _dotted(tokens, i)
    if not parts:
        return None
    if kind == "schema":
        return (kind, "", parts[-1]) if len(parts) == 1 else None
    return (kind, parts[-2] if len(parts) > 1 else "public", parts[-1])


_CREATE_MODIFIERS = {"or", "replace", "unlogged", "recursive", "trusted", "procedural"}
_CREATED_KINDS = [
    (("materialized", "view"), "relation"), (("foreign", "table"), "relation"), (("table",), "relation"),
    (("view",), "relation"), (("sequence",), "relation"), (("function",), "routine"), (("procedure",), "routine"),
    (("aggregate",), "routine"), (("schema",), "schema"), (("type",), "type"), (("domain",), "type"),
]
_LO_CREATE = re.compile(r"^select (?:pg_catalog \. )?lo_create \( '?(\d+)'? \) ;$")


def created_object(statement) -> tuple | None:
    """(kind, schema, name) of the object a ``CREATE <kind> name ...`` or
    ``SELECT pg_catalog.lo_create('oid');`` statement makes, keyed as
    ``owner_statement_object`` keys it; None for other statements (and for
    temporary objects, which do not outlive the restore)."""
    first = statement.first_word()
    tokens = statement.tokens
    if first == "select":
        if len(tokens) > 10:
            return None
        match = _LO_CREATE.match(" ".join(t.text for t in tokens))
        # lo_create(0) makes a new OID, which the backup cannot name.
        return ("large object", "", match.group(1)) if match and match.group(1).strip("0") else None
    if first != "create":
        return None
    i = 1
    while i < len(tokens) and tokens[i].kind == "word" and tokens[i].text in _CREATE_MODIFIERS:
        i += 1
    words = [t.text if t.kind == "word" else None for t in tokens[i:i + 2]]
    for phrase, kind in _CREATED_KINDS:
        if tuple(words[:len(phrase)]) == phrase:
            i += len(phrase)
            break
    else:
        return None
    if [t.text for t in tokens[i:i + 3]] == ["if", "not", "exists"]:
        i += 3
    if kind == "schema" and i < len(tokens) and tokens[i].text == "authorization":
        return None
    return _qualified(tokens, i, kind)


# pg_dump's archive entry descriptions, as owned_objects keys them.
ARCHIVE_KINDS = {
    "TABLE": "relation", "VIEW": "relation", "MATERIALIZED VIEW": "relation", "SEQUENCE": "relation",
    "FOREIGN TABLE": "relation", "FUNCTION": "routine", "PROCEDURE": "routine", "AGGREGATE": "routine",
    "SCHEMA": "schema", "TYPE": "type", "DOMAIN": "type", "BLOB": "large object",
}


def archive_entry_object(desc, namespace, tag) -> tuple | None:
    kind = ARCHIVE_KINDS.get(desc)
    if kind is None:
        return None
    if kind in ("schema", "large object"):
        return (kind, "", tag)
    if kind == "routine":
        tag = tag.split("(", 1)[0]
    return (kind, namespace or "public", tag)


_SWITCH_REFUSED = re.compile(r"permission denied to set (role|session authorization)", re.I)


def role_switch_refused(lines) -> bool:
    """Whether a client tool's error output says the SQL tried to act as another role."""
    return any(_SWITCH_REFUSED.search(line) for line in lines)


def role_switch_failure(failure: Message) -> Message:
    """A tool's failure, with what to do when the backup's SQL switched roles
    where dbkeeper could not leave the switch out."""
    return Message(N_("%(failure)s The backup's SQL tries to act as another role (SET ROLE or SET SESSION "
                      "AUTHORIZATION), which the unprivileged role dbkeeper runs it as may not do. dbkeeper leaves "
                      "out such statements when they stand on their own in a plain SQL file and gives the objects "
                      "to those roles afterwards; this one is part of another statement (a function, a DO block, "
                      "an archive entry). Take that switch out of the backup's SQL, or restore the backup through a "
                      "target that trusts its backups fully (trust: superuser)."),
                   {"failure": failure})
