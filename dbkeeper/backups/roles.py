"""Applying the roles stored beside a backup (``pg_dumpall --roles-only``)
to a PostgreSQL server, only when asked (``dbkeeper roles apply``): role by
role, creating the roles the server lacks and never changing one that
exists. The file is not run as SQL: each statement is matched against the
few shapes pg_dumpall writes (CREATE ROLE, ALTER ROLE ... WITH attributes,
GRANT role TO role) and rebuilt from what was matched, so a tampered file
cannot slip anything else in. Roles with SUPERUSER, REPLICATION or
BYPASSRLS are left out unless explicitly allowed."""

import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from .. import conf
from ..errors import DbkeeperError
from ..messages import N_, Np_, shortened
from ..targets.pgroles import RoleFacts

log = logging.getLogger(__name__)

IDENT = r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*'
LITERAL = r"'(?:[^']|'')*'"
OPTION = (r"(?:NO)?(?:SUPERUSER|INHERIT|CREATEROLE|CREATEDB|LOGIN|REPLICATION|BYPASSRLS)"
          rf"|CONNECTION LIMIT -?\d+|PASSWORD {LITERAL}|VALID UNTIL {LITERAL}")
CREATE = re.compile(rf"^CREATE ROLE ({IDENT});$")
ALTER = re.compile(rf"^ALTER ROLE ({IDENT}) WITH((?: (?:{OPTION}))+);$")
GRANT = re.compile(rf"^GRANT ({IDENT}) TO ({IDENT})( WITH ADMIN OPTION)?(?: GRANTED BY (?:{IDENT}))?;$")
POWERFUL = {"SUPERUSER", "REPLICATION", "BYPASSRLS"}


def _name(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


@dataclass
class Role:
    name: str
    options: str = ""  # validated attribute list, e.g. "NOSUPERUSER INHERIT LOGIN PASSWORD '...'"

    @property
    def powerful(self) -> set:
        words = set(re.sub(LITERAL, "", self.options).split())
        return words & POWERFUL


@dataclass
class RolesFile:
    roles: dict = field(default_factory=dict)  # name -> Role, in file order
    grants: list = field(default_factory=list)  # (role, member, with_admin)
    ignored: int = 0  # statements of other shapes (settings, comments): not applied


def parse(text: str) -> RolesFile:
    found = RolesFile()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("--") or line.startswith("SET "):
            continue
        if match := CREATE.match(line):
            found.roles.setdefault(_name(match.group(1)), Role(_name(match.group(1))))
        elif match := ALTER.match(line):
            role = found.roles.setdefault(_name(match.group(1)), Role(_name(match.group(1))))
            role.options = match.group(2).strip()
        elif match := GRANT.match(line):
            found.grants.append((_name(match.group(1)), _name(match.group(2)), bool(match.group(3))))
        else:
            found.ignored += 1
    return found


def apply(roles: RolesFile, target, allow_powerful=False) -> dict:
    """Create the roles ``target``'s server lacks (each in its own
    transaction) and their memberships; existing roles are not touched."""
    existing = RoleFacts.of(target).existing
    created, kept, refused = [], [], []
    with target.connect() as conn:
        for role in roles.roles.values():
            if role.name in existing:
                kept.append(role.name)
                continue
            if role.powerful and not allow_powerful:
                refused.append(role.name)
                continue
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role.name)))
                    if role.options:
                        # The options matched OPTION word by word: nothing else can be in them.
                        conn.execute(sql.SQL("ALTER ROLE {} WITH ").format(sql.Identifier(role.name))
                                     + sql.SQL(role.options))
            except psycopg.Error as exc:
                raise DbkeeperError(N_("The role %(role)s could not be created: %(error)s."), code="role_failed",
                                    params={"role": role.name, "error": str(exc).strip().splitlines()[0]}) from exc
            created.append(role.name)
        present = existing | set(created)
        granted = 0
        for role, member, admin in roles.grants:
            # Only new roles get memberships: an existing role is never changed.
            if member in created and role in present:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(member))
                             + sql.SQL(" WITH ADMIN OPTION" if admin else ""))
                granted += 1
    log.info("roles applied to %s: created %s, kept %s, refused %s", target.display(), created, kept, refused)
    return {"created": created, "existing": kept, "refused": refused, "memberships": granted,
            "ignored": roles.ignored}


def read_roles(backup) -> str:
    """The text of a stored backup's roles file (decrypted if it is encrypted)."""
    from .encryption import decrypt_to, identity_file
    from .storage import get_storage

    if not backup.roles_name:
        raise DbkeeperError(N_("This backup was made without the server's roles."), code="no_roles")
    stream = get_storage(backup.storage or None).open_stream(backup.roles_name)
    if not backup.recipients:
        return b"".join(stream).decode("utf-8")
    with tempfile.TemporaryDirectory(dir=conf.data_subdir("tmp")) as folder:
        plain = Path(folder) / "roles.sql"
        decrypt_to(stream, plain, identity_file())
        return plain.read_text("utf-8")


# -- on a restore (``dbkeeper restore --apply-roles``, the API's apply_roles, the page's checkbox) --

def check_apply(backup, target) -> None:
    """Refuse, with a sentence, to apply ``backup``'s roles during a restore
    into ``target`` unless the backup has them and the target trusts its
    backups (trust "superuser"): creating roles is the server's business."""
    if backup is None or not backup.roles_name:
        raise DbkeeperError(N_("This backup was made without the server's roles, so there are none to apply."),
                            code="no_roles")
    if target.kind != "postgresql":
        raise DbkeeperError(N_("Only a PostgreSQL server has roles to apply."), code="no_roles")
    if getattr(target, "trust", "") != "superuser":
        raise DbkeeperError(
            N_("The backup's roles are applied only through a target that trusts its backups (trust \"superuser\"), "
               "and %(target)s does not. Restore without applying the roles, or apply them with %(command)s."),
            code="roles_need_trust", params={"target": target.name, "command": "dbkeeper roles apply"})


def apply_for_restore(backup, target, progress) -> dict:
    """Before the restore: create the roles of ``backup`` that ``target``'s
    server lacks, role by role; existing roles are never changed, and roles
    with SUPERUSER, REPLICATION or BYPASSRLS are left out (``dbkeeper roles
    apply --allow-superuser`` creates those). Says what it did as events."""
    check_apply(backup, target)  # again in the worker: the target's settings may have changed since
    done = apply(parse(read_roles(backup)), target, allow_powerful=False)
    created, refused = done["created"], done["refused"]
    if created:
        progress.event(Np_("The backup's role %(roles)s was created on the server.",
                           "The backup's %(count)s roles were created on the server: %(roles)s."),
                       params={"count": len(created), "roles": shortened(created, 10)})
    else:
        progress.event(N_("The server already has every role of the backup; none was changed."))
    if refused:
        progress.event(N_("Roles with SUPERUSER, REPLICATION or BYPASSRLS were left out: %(roles)s. "
                          "Create them with %(command)s if they are wanted."),
                       params={"roles": shortened(refused, 10), "command": "dbkeeper roles apply --allow-superuser"},
                       level="warning")
    return done
