"""After the backup's content has run and been checked, and before the swap:
give the scratch database's objects to their owners and the database the live
one's identity.

Ownership never goes to a superuser (an expression index or a SECURITY
DEFINER function owned by one would later run the backup's code with its
rights): objects whose owner in the backup is an existing unprivileged role
get that owner back; all others go to the live database's owner if it is
unprivileged, else to the target's configured owner role, else to a NOLOGIN
role ``<db>_owner`` created once.

The database takes the live one's owner, grants (datacl), settings
(pg_db_role_setting, database-wide and per role: the live set replaces the
backup's), comment and connection limit (last, so that it does not count the
restore's own sessions). Encoding, locale and tablespace are set when the
scratch database is created.

Every statement here is dbkeeper's own, built from catalog values; the
connection to the scratch database pins search_path to pg_catalog so that
nothing the backup defined (an operator, a function) is picked up by it.
"""

import logging

from psycopg import errors as pgerrors
from psycopg import sql

from ..errors import RestoreFailed
from ..messages import Message, N_, Np_
from .pgroles import all_privileges, privileges
from .pgscratch import drop_role

log = logging.getLogger(__name__)

# Variables whose list value pg_dump splits and quotes element by element.
_LIST_QUOTE_VARIABLES = {"local_preload_libraries", "search_path", "session_preload_libraries",
                         "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories"}

# Objects that carry an owner of their own, with the statement that sets it.
# Indexes, row types and sequences owned by a column follow their table.
# Large objects are keyed by their OID, which pg_dump keeps (lo_create).
_OWNED_OBJECTS_SQL = """
SELECT 'relation', n.nspname, c.relname, 'TABLE', quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT 'routine', n.nspname, p.proname,
       CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT 'schema', '', n.nspname, 'SCHEMA', quote_ident(n.nspname)
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT 'type', n.nspname, t.typname, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'r', 'd', 'c') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%'
  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT 'large object', '', m.oid::text, 'LARGE OBJECT', m.oid::text
FROM pg_largeobject_metadata m
"""


def hand_over(live, scratch, progress=None) -> None:
    """Run with the target's own connection; see the module's description."""
    events = []
    with live.admin_connection() as admin:
        scratch_oid = _database_oid(admin, scratch.name)
        _forget_settings(admin, scratch.name, scratch_oid, events)
        live_row = _live_facts(admin, live.name)
        role = scratch.runas
        members = _Memberships(admin)
        try:
            if role is not None:
                privileged = all_privileges(admin)
                default_owner = _default_owner(admin, live, live_row, privileged, events)
                database_owner = live_row["owner"] if live_row else default_owner
                members.ensure(default_owner, database_owner)
                with scratch.admin_connect_scratch() as conn:
                    _end_sessions(admin, scratch.name, role.name)
                    conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                        sql.Identifier(role.name), sql.Identifier(default_owner)))
                    _give_back_owners(conn, getattr(scratch, "backup_owners", {}) or {}, privileged, default_owner,
                                      events, members)
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role.name)))
                    _default_privileges(conn, getattr(scratch, "default_privileges", []) or [], privileged, events,
                                        members)
                _execute(admin, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(scratch.name), sql.Identifier(database_owner)))
                drop_role(admin, role.name)
                scratch.runas = None
                members.keep(database_owner)
            if live_row:
                _take_identity(admin, scratch.name, live_row, events, owner=role is None)
        finally:
            members.undo()
    if progress is not None:
        for message, level in events:
            progress.event(message, level=level)


class _Memberships:
    """A target role that is no superuser (CREATEROLE, as managed-cloud admin
    roles are) must be a member of the roles it hands objects to: such
    memberships are granted for the hand-over and revoked after it, except
    the one in the database's owner: renaming the database (the swap, and
    every later restore's) needs it, and such a role could grant it itself."""

    def __init__(self, conn):
        self.conn = conn
        self.superuser = privileges(conn).superuser
        self.granted = []

    def ensure(self, *roles):
        if self.superuser:
            return
        for role in roles:
            member = self.conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()[0]
            if not member:
                self.conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
                self.granted.append(role)

    def keep(self, role):
        if role in self.granted:
            self.granted.remove(role)
            log.info("the target's role stays a member of %s, the restored database's owner", role)

    def undo(self):
        for role in self.granted:
            try:
                self.conn.execute(sql.SQL("REVOKE {} FROM CURRENT_USER").format(sql.Identifier(role)))
            except pgerrors.Error:
                log.warning("could not revoke the hand-over's membership in %s", role, exc_info=True)
        self.granted = []


def _execute(conn, statement, params=None):
    log.debug("hand-over: %s", statement.as_string(conn) if hasattr(statement, "as_string") else statement)
    conn.execute(statement, params)


def _database_oid(conn, name):
    row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if row is None:
        raise RestoreFailed(N_("The scratch database %(name)s disappeared before it could be put in place."),
                            params={"name": name})
    return row[0]


def _forget_settings(conn, name, oid, events):
    """The backup's own ALTER DATABASE/ROLE ... SET for the scratch database
    go: the live database's settings replace them, and none of them may
    reach dbkeeper's own sessions on it."""
    _execute(conn, sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(name)))
    for (role,) in conn.execute(
            "SELECT r.rolname FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE s.setdatabase = %s", (oid,)).fetchall():
        try:
            _execute(conn, sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(
                sql.Identifier(role), sql.Identifier(name)))
        except pgerrors.InsufficientPrivilege as exc:
            events.append((Message(N_("The backup's settings for role %(role)s in this database could not be "
                                      "removed: %(error)s"), {"role": role, "error": _first_line(exc)}), "warning"))


def _live_facts(conn, name) -> dict | None:
    row = conn.execute(
        "SELECT d.oid, r.rolname, r.rolsuper, d.datconnlimit, shobj_description(d.oid, 'pg_database'), "
        "(SELECT array_agg(ARRAY[COALESCE(g.rolname, ''), a.privilege_type, a.is_grantable::text] "
        "                  ORDER BY g.rolname NULLS FIRST, a.privilege_type) "
        "   FROM aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a "
        "   LEFT JOIN pg_roles g ON g.oid = a.grantee) "
        "FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = %s", (name,)).fetchone()
    if row is None:
        return None
    oid, owner, owner_super, connlimit, comment, acl = row
    settings = conn.execute(
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole "
        "WHERE s.setdatabase = %s ORDER BY r.rolname NULLS FIRST", (oid,)).fetchall()
    return {"owner": owner, "owner_super": owner_super, "connlimit": connlimit, "comment": comment,
            "acl": acl or [], "settings": settings}


def _default_owner(conn, live, live_row, privileged, events) -> str:
    """Who gets the objects whose owner in the backup cannot have them."""
    if live_row and not privileged.get(live_row["owner"], _UNKNOWN_ROLE).privileged:
        return live_row["owner"]
    configured = live.owner
    if configured:
        priv = privileged.get(configured)
        if priv is None:
            raise RestoreFailed(N_("The target's owner role %(role)s does not exist on the server."),
                                params={"role": configured}, code="owner_missing")
        if priv.privileged:
            raise RestoreFailed(N_("The target's owner role %(role)s is privileged; restored objects never go to "
                                   "such a role. Configure an unprivileged owner role."),
                                params={"role": configured}, code="owner_privileged")
        return configured
    name = owner_role_name(live.name)
    priv = privileged.get(name)
    if priv is None:
        _execute(conn, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        events.append((Message(N_("dbkeeper created the role %(role)s (it cannot log in) to own the restored "
                                  "objects: the live database's owner is a superuser or there is no live "
                                  "database, and the target names no owner role."), {"role": name}), "warning"))
    elif priv.privileged:
        raise RestoreFailed(N_("The role %(role)s, which would own the restored objects, is privileged; restored "
                               "objects never go to such a role. Configure an unprivileged owner role for the "
                               "target."), params={"role": name}, code="owner_privileged")
    return name


def owner_role_name(dbname: str) -> str:
    base = dbname.encode("utf-8")[:57].decode("utf-8", "ignore")
    return f"{base}_owner"


class _UnknownRole:
    privileged = True  # a role that does not exist cannot be given anything


_UNKNOWN_ROLE = _UnknownRole()


def _give_back_owners(conn, backup_owners, privileged, default_owner, events, members):
    """Objects whose owner in the backup exists and is unprivileged get it back."""
    if not backup_owners:
        return
    given, refused = 0, set()
    for kind, schema, name, statement_kind, identity in conn.execute(_OWNED_OBJECTS_SQL).fetchall():
        owner = backup_owners.get((kind, schema, name))
        if not owner or owner == default_owner:
            continue
        priv = privileged.get(owner)
        if priv is None or priv.privileged or owner.startswith("pg_"):
            refused.add(owner)
            continue
        members.ensure(owner)
        # identity comes from the catalog (quote_ident, regprocedure, regtype), never from the backup.
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(
            sql.SQL(statement_kind), sql.SQL(identity), sql.Identifier(owner)))
        given += 1
    if given:
        events.append((Message(Np_("%(count)s object went back to its owner in the backup.",
                                   "%(count)s objects went back to their owners in the backup."),
                               {"count": given}), "info"))
    if refused:
        events.append((Message(N_("Objects that the backup gives to %(roles)s (roles this server lacks, superusers "
                                  "or privileged roles) now belong to %(owner)s."),
                               {"roles": sorted(refused), "owner": default_owner}), "warning"))


def _default_privileges(conn, statements, privileged, events, members):
    """The backup's ALTER DEFAULT PRIVILEGES FOR ROLE r statements (one
    statement each, checked by sqlscan) run as r itself (SET ROLE), and only
    when r exists and is unprivileged; the others are named in an event."""
    applied, refused = 0, set()
    for role, text in statements:
        priv = privileged.get(role)
        if priv is None or priv.privileged or role.startswith("pg_"):
            refused.add(role)
            continue
        try:
            members.ensure(role)
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            conn.execute(text)
            applied += 1
        except pgerrors.Error as exc:
            refused.add(role)
            log.warning("default privileges for %s not re-applied: %s", role, exc)
        finally:
            conn.execute("RESET ROLE")
    if applied:
        events.append((Message(Np_("dbkeeper re-applied %(count)s default privilege setting of the backup.",
                                   "dbkeeper re-applied %(count)s default privilege settings of the backup."),
                               {"count": applied}), "info"))
    if refused:
        events.append((Message(N_("The backup's default privileges for %(roles)s were left out (roles this server "
                                  "lacks, superusers or privileged roles)."), {"roles": sorted(refused)}), "warning"))


def _end_sessions(conn, dbname, role):
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND usename = %s",
                 (dbname, role))


def _take_identity(conn, name, live, events, owner=True):
    db = sql.Identifier(name)
    steps = []
    if owner:
        steps.append((N_("owner"), [sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(live["owner"]))]))
    current = conn.execute(
        "SELECT DISTINCT COALESCE(g.rolname, '') FROM pg_database d, "
        "aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a LEFT JOIN pg_roles g ON g.oid = a.grantee "
        "WHERE d.datname = %s", (name,)).fetchall()
    grants = [sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, _grantee(role)) for (role,) in current]
    grants.append(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    for role, privilege, grantable in live["acl"]:
        grants.append(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
            sql.SQL(privilege) if privilege in ("CONNECT", "CREATE", "TEMPORARY") else sql.SQL("CONNECT"), db,
            _grantee(role), sql.SQL(" WITH GRANT OPTION" if grantable == "true" else "")))
    steps.append((N_("grants"), grants))
    settings = []
    for role, config in live["settings"]:
        for item in config or []:
            variable, _, value = item.partition("=")
            target = (sql.SQL("ALTER ROLE {} IN DATABASE {}").format(sql.Identifier(role), db) if role
                      else sql.SQL("ALTER DATABASE {}").format(db))
            settings.append(target + sql.SQL(" SET {} TO {}").format(sql.Identifier(variable), _setting_value(variable, value)))
    steps.append((N_("settings"), settings))
    steps.append((N_("comment"), [sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(live["comment"]))]))
    steps.append((N_("connection limit"), [sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
        db, sql.Literal(live["connlimit"]))]))
    missed = []
    for what, statements in steps:
        try:
            for statement in statements:
                _execute(conn, statement)
        except (pgerrors.InsufficientPrivilege, pgerrors.UndefinedObject) as exc:
            log.warning("could not give %s the live database's %s: %s", name, what, exc)
            missed.append((what, _first_line(exc)))
    for what, error in missed:
        events.append((Message(N_("The restored database could not take the live database's %(what)s: %(error)s"),
                               {"what": Message(what), "error": error}), "warning"))


def _grantee(role):
    return sql.SQL("PUBLIC") if not role else sql.Identifier(role)


def _setting_value(variable, value):
    """A stored setting back as SQL: list variables element by element, as pg_dump does."""
    if variable.lower() not in _LIST_QUOTE_VARIABLES:
        return sql.Literal(value)
    items, current, quoted, i = [], "", False, 0
    while i < len(value):
        ch = value[i]
        if ch == '"':
            if quoted and i + 1 < len(value) and value[i + 1] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch == "," and not quoted:
            items.append(current.strip())
            current = ""
        else:
            current += ch
        i += 1
    items.append(current.strip())
    return sql.SQL(", ").join(sql.Literal(item) for item in items if item != "" or len(items) == 1)


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__



def planned_default_owner(live, privileged) -> str:
    """Who _default_owner would pick, without creating anything (for dbkeeper inspect)."""
    if live.exists():
        with live.admin_connection() as conn:
            row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                               (live.name,)).fetchone()
        if row and not privileged.get(row[0], _UNKNOWN_ROLE).privileged:
            return row[0]
    return live.owner or owner_role_name(live.name)
