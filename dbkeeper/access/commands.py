"""``dbkeeper token create | revoke | list``: personal API tokens for scripts
and ``dbkeeper upload``."""

import sys


def register(sub):
    p = sub.add_parser("token", help="personal API tokens (for scripts and 'dbkeeper upload')")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    c = tsub.add_parser("create", help="create a token for a user and print it once")
    c.add_argument("username")
    c.add_argument("--name", default="", help="what the token is for, e.g. 'nightly upload'")
    c.set_defaults(func=cmd_create)

    r = tsub.add_parser("revoke", help="revoke a token, by its id or the prefix shown by 'token list'")
    r.add_argument("token", metavar="PREFIX_OR_ID")
    r.set_defaults(func=cmd_revoke)

    ls = tsub.add_parser("list", help="list tokens (never the secrets)")
    ls.add_argument("--all", action="store_true", help="include revoked tokens")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)

    f = sub.add_parser("2fa", help="TOTP two-factor sign-in for staff")
    fsub = f.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = fsub.add_parser("enrol", help="give a user a new TOTP seed and print its otpauth:// URI once")
    e.add_argument("username")
    e.set_defaults(func=cmd_2fa_enrol)
    rm = fsub.add_parser("remove", help="turn two-factor sign-in off for a user")
    rm.add_argument("username")
    rm.set_defaults(func=cmd_2fa_remove)


def cmd_create(args):
    from django.contrib.auth import get_user_model

    from ..errors import DbkeeperError
    from ..messages import N_
    from ..server import migrate
    from .api_tokens import create_token

    migrate()
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: args.username}).first()
    if user is None:
        raise DbkeeperError(N_("There is no user named %(name)s; create it first (e.g. 'dbkeeper createadmin %(name)s')."),
                            params={"name": args.username})
    if not user.is_active:
        raise DbkeeperError(N_("The user %(name)s is inactive; a token for it would not work."), params={"name": args.username})
    _may_act_for(user.pk)
    record, secret = create_token(user, name=args.name)
    sys.stdout.write(secret + "\n")
    sys.stderr.write(
        f"Token {record.id} ({record.prefix}…) for {record.username}. It is shown only this once; "
        f"revoke it with 'dbkeeper token revoke {record.prefix}'.\n"
    )
    from .permissions import may_use

    if not may_use(user):
        sys.stderr.write(f"Note: {record.username} holds no dbkeeper permission yet, so the token can do nothing; "
                         f"see 'dbkeeper grant'.\n")
    return 0


def _may_act_for(user_id):
    """A command run as a user other than a superuser manages only that user's own tokens and sign-in."""
    from ..audit.context import acting_user
    from ..messages import N_
    from .permissions import PermissionRefused

    acting = acting_user()
    if acting is not None and not acting.is_superuser and str(acting.pk) != str(user_id):
        raise PermissionRefused(N_("Only superusers may manage the tokens and two-factor sign-in of other users."))


def cmd_revoke(args):
    from ..server import migrate
    from .api_tokens import find_token, revoke_token

    migrate()
    found = find_token(args.token)
    _may_act_for(found.user_id)
    record = revoke_token(found)
    sys.stdout.write(f"revoked token {record.id} ({record.prefix}…) of {record.username}\n")
    return 0


def cmd_list(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from .api_tokens import ApiToken

    if not open_records(args.json):
        return 0
    tokens = list(ApiToken.objects.all() if args.all else ApiToken.objects.filter(revoked_at__isnull=True))
    if args.json:
        def iso(value):
            return value.isoformat() if value else None

        print_json([{"id": t.id, "prefix": t.prefix, "user": t.username, "name": t.name, "created_at": iso(t.created_at),
                     "last_used_at": iso(t.last_used_at), "revoked_at": iso(t.revoked_at)} for t in tokens])
        return 0
    if not tokens:
        say_empty("API tokens" if args.all else "active API tokens")
        return 0

    def when(value):
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    header = ["id", "prefix", "user", "name", "created", "last used"] + (["revoked"] if args.all else [])
    rows = [[str(t.id), t.prefix + "…", t.username, t.name or "-", when(t.created_at), when(t.last_used_at)]
            + ([when(t.revoked_at)] if args.all else []) for t in tokens]
    # The prefix (or id) is what 'token revoke' takes.
    print_table(header, rows, keep={"id", "prefix", "user"})
    return 0


def _user(username):
    from django.contrib.auth import get_user_model

    from ..errors import DbkeeperError

    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise DbkeeperError(f"There is no user named {username}.")
    return user


def cmd_2fa_enrol(args):
    from ..server import migrate
    from .twofactor import enrol

    migrate()
    user = _user(args.username)
    _may_act_for(user.pk)
    _device, uri = enrol(user)
    sys.stdout.write(uri + "\n")
    sys.stderr.write(f"Two-factor sign-in is on for {user.get_username()}: add the URI above to an authenticator "
                     "app (it is shown only this once); the sign-in page will ask for its code.\n")
    return 0


def cmd_2fa_remove(args):
    from ..server import migrate
    from .twofactor import TotpDevice

    migrate()
    user = _user(args.username)
    _may_act_for(user.pk)
    count, _ = TotpDevice.objects.filter(user_id=str(user.pk)).delete()
    sys.stdout.write(f"two-factor sign-in {'removed' if count else 'was not on'} for {user.get_username()}\n")
    return 0
