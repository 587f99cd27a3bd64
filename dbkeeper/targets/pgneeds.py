"""What a backup needs from the server beyond its own tables (roles,
extensions, objects only a superuser may create), and what dbkeeper will do
about each on a given target: said by ``dbkeeper inspect`` before anything
runs, and acted on before the content runs (extensions).

Extensions the server marks as trusted are created by the content itself (the
throwaway role owns the scratch database). Others are created by dbkeeper,
with the target's connection, only if the live database has them or the
target's settings list them; any other one, an untrusted language or an event
trigger fails the restore, naming it, before the swap.
"""

import logging
import re
from dataclasses import dataclass, field

from psycopg import sql

from ..errors import RestoreFailed
from ..messages import Message, N_

log = logging.getLogger(__name__)


@dataclass
class Needs:
    extensions: dict = field(default_factory=dict)  # name -> schema ("" when the statement names none)
    event_triggers: list = field(default_factory=list)
    languages: list = field(default_factory=list)

    def as_dict(self):
        return {"extensions": dict(self.extensions), "event_triggers": list(self.event_triggers),
                "languages": list(self.languages)}

    @classmethod
    def from_dict(cls, data):
        data = data or {}
        return cls(dict(data.get("extensions") or {}), list(data.get("event_triggers") or []),
                   list(data.get("languages") or []))

    def __bool__(self):
        return bool(self.extensions or self.event_triggers or self.languages)


_WITH_SCHEMA = re.compile(r'\bSCHEMA\s+("(?:[^"]|"")+"|[^\s;]+)', re.I)


def needs_of_archive(archive) -> Needs:
    needs = Needs()
    for entry in archive.entries:
        if entry.desc == "EXTENSION":
            match = _WITH_SCHEMA.search(entry.defn or "")
            needs.extensions[entry.tag] = _unquote(match.group(1)) if match else ""
        elif entry.desc == "EVENT TRIGGER":
            needs.event_triggers.append(entry.tag)
        elif entry.desc == "PROCEDURAL LANGUAGE":
            needs.languages.append(entry.tag)
    return needs


def _unquote(name):
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _names_after(tokens, i):
    return tokens[i].text if i < len(tokens) and tokens[i].kind in ("word", "quoted") else None


def note_statement(needs: Needs, statement) -> None:
    """Adds what one plain-SQL statement (a sqlscan Statement) needs."""
    if statement.first_word() != "create":
        return
    tokens = statement.tokens
    words = [t.text if t.kind == "word" else None for t in tokens[:8]]
    i = 1
    if words[1:3] == ["or", "replace"]:
        i = 3
    while i < len(words) and words[i] in ("trusted", "procedural"):
        i += 1
    kind = words[i] if i < len(words) else None
    if kind == "extension":
        i += 1
        if words[i:i + 3] == ["if", "not", "exists"]:
            i += 3
        name = _names_after(tokens, i)
        if name is None:
            return
        schema = ""
        for j in range(i + 1, len(tokens) - 1):
            if tokens[j].kind == "word" and tokens[j].text == "schema":
                schema = _names_after(tokens, j + 1) or ""
                break
        needs.extensions[name] = schema
    elif kind == "event" and i + 1 < len(words) and words[i + 1] == "trigger":
        name = _names_after(tokens, i + 2)
        if name:
            needs.event_triggers.append(name)
    elif kind == "language":
        name = _names_after(tokens, i + 1)
        if name:
            needs.languages.append(name)


# -- on a server -------------------------------------------------------------------

@dataclass
class ExtensionPlan:
    name: str
    schema: str
    action: str  # "content", "dbkeeper", "present", "missing", "refused"


def extension_plans(target, needs: Needs) -> list:
    """For each extension the backup creates: who creates it on this target."""
    if not needs.extensions:
        return []
    with target.admin_connection() as conn:
        available = {name: trusted for name, trusted in conn.execute(
            "SELECT name, bool_or(trusted) FROM pg_available_extension_versions GROUP BY name")}
    live_has = set()
    if target.exists():
        with target._connect_as_target(target.name, options="-c search_path=pg_catalog,pg_temp") as conn:
            live_has = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    plans = []
    for name, schema in sorted(needs.extensions.items()):
        if name == "plpgsql":
            action = "present"
        elif name not in available:
            action = "missing"
        elif target.trust == "superuser" or available[name]:
            action = "content"
        elif name in live_has or name in target.extensions:
            action = "dbkeeper"
        else:
            action = "refused"
        plans.append(ExtensionPlan(name, schema, action))
    return plans


def prepare_extensions(live, scratch, needs: Needs, progress=None) -> set:
    """Before the content runs as the throwaway role: create the untrusted
    extensions the live database has or the target lists (and a schema the
    statement names, owned by the throwaway role, so the content fills it).
    Returns the {("extension", name), ("schema", name)} the content must not
    create again (their COMMENT ON EXTENSION and CREATE SCHEMA are left out)."""
    made = set()
    plans = [p for p in extension_plans(live, needs) if p.action == "dbkeeper"]
    if not plans:
        return made
    with scratch.admin_connect_scratch() as conn:
        for plan in plans:
            schema = plan.schema or "public"
            if schema.startswith("pg_") or schema == "information_schema":
                # The backup does not get to put superuser-made objects among the system's.
                raise RestoreFailed(N_("The backup creates the extension %(name)s in the system schema %(schema)s; "
                                       "dbkeeper creates extensions only in the database's own schemas."),
                                    params={"name": plan.name, "schema": schema}, code="extension_schema")
            if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
                conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                    sql.Identifier(schema), sql.Identifier(scratch.runas.name)))
                made.add(("schema", schema))
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(
                sql.Identifier(plan.name), sql.Identifier(schema)))
            made.add(("extension", plan.name))
            log.info("created extension %s in %s for the backup", plan.name, scratch.name)
            if progress is not None:
                progress.event(Message(N_("dbkeeper created the extension %(name)s, which needs a superuser, "
                                          "before the backup's content ran."), {"name": plan.name}))
    return made


def skipped_by(made: set, statement) -> bool:
    """Whether a plain-SQL statement creates again what prepare_extensions made."""
    if not made:
        return False
    words = [t.text if t.kind == "word" else None for t in statement.tokens[:4]]
    tokens = statement.tokens
    if words[:3] == ["comment", "on", "extension"]:
        return ("extension", _names_after(tokens, 3)) in made
    if words[:2] == ["create", "schema"]:
        name = _names_after(tokens, 2)
        if name == "if":
            return False
        return ("schema", name) in made
    return False


def skipped_entries(made: set, archive) -> set:
    """Dump ids of the archive entries that create again what prepare_extensions made."""
    ids = set()
    for entry in archive.entries:
        if entry.desc == "COMMENT" and entry.tag.startswith("EXTENSION "):
            if ("extension", entry.tag[len("EXTENSION "):]) in made:
                ids.add(entry.dump_id)
        elif entry.desc == "SCHEMA" and ("schema", entry.tag) in made:
            ids.add(entry.dump_id)
    return ids


ACTIONS = {
    "present": N_("present in every database"),
    "content": N_("created by the backup itself (the server trusts it)"),
    "dbkeeper": N_("created by dbkeeper before the backup runs (the live database has it or the target lists it)"),
    "missing": N_("not installed on the server: the restore fails"),
    "refused": N_("needs a superuser: the restore fails unless the live database has it, the target lists it, or "
                  "the target trusts its backups fully"),
}


def describe_plans(target, needs: Needs) -> list:
    """(object, what dbkeeper will do) pairs for a person."""
    rows = []
    for plan in extension_plans(target, needs):
        rows.append((Message(N_("extension %(name)s"), {"name": plan.name}), Message(ACTIONS[plan.action])))
    trusted = target.trust == "superuser"
    for name in needs.event_triggers:
        rows.append((Message(N_("event trigger %(name)s"), {"name": name}), Message(
            N_("created (the target trusts its backups fully)") if trusted else
            N_("needs a superuser: the restore fails before the swap"))))
    for name in needs.languages:
        rows.append((Message(N_("language %(name)s"), {"name": name}), Message(
            N_("created (the target trusts its backups fully)") if trusted else
            N_("created only if the server trusts it; else the restore fails before the swap"))))
    return rows


# -- the whole plan, for dbkeeper inspect ------------------------------------------------

def restore_plan(target, details: dict) -> list:
    """(subject, what dbkeeper will do) pairs for restoring a backup with
    these details into ``target``: how its SQL runs, its roles, its
    extensions and superuser-only objects. Reads the server, changes nothing."""
    from ..errors import TargetError
    from .pghandover import planned_default_owner
    from .pgroles import all_privileges, describe, privileges
    from .pgscratch import needs_throwaway_role

    rows = []
    with target.admin_connection() as conn:
        me = privileges(conn)
        try:
            throwaway = needs_throwaway_role(conn, target)
        except TargetError as exc:
            return [(Message(N_("the backup's SQL")), exc.sentence)]
        known = all_privileges(conn)
    if throwaway:
        rows.append((Message(N_("the backup's SQL")), Message(
            N_("runs as a throwaway role without privileges, made for this restore and dropped after it "
               "(the target's role %(role)s is %(what)s)"), {"role": me.role, "what": describe(me)})))
        owner = planned_default_owner(target, known)
    else:
        rows.append((Message(N_("the backup's SQL")), Message(
            N_("runs as the target's role %(role)s (it trusts its backups fully)") if target.trust == "superuser"
            else N_("runs as the target's role %(role)s, which has no privileges beyond its own objects"),
            {"role": me.role})))
        owner = me.role
    roles = details.get("roles") or []
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    for role in roles:
        priv = known.get(role)
        if not throwaway:
            action = (Message(N_("exists")) if priv is not None
                      else Message(N_("does not exist: the statements naming it are left out")))
        elif priv is None:
            action = Message(N_("does not exist: the statements naming it are left out and its objects go to "
                                "%(owner)s"), {"owner": owner})
        elif priv.privileged or role.startswith("pg_"):
            action = Message(N_("is %(what)s: its objects go to %(owner)s"), {"what": describe(priv), "owner": owner})
        else:
            action = Message(N_("gets its objects back after the restore"))
        rows.append((Message(N_("role %(name)s"), {"name": role}), action))
    rows += describe_plans(target, Needs.from_dict(details.get("needs")))
    return rows
