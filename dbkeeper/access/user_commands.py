"""``dbkeeper user add``: a sign-in account to grant permissions to."""

import sys


def register(sub):
    p = sub.add_parser("user", help="sign-in accounts: add one to grant permissions to")
    usub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = usub.add_parser("add", help="create a user and print its password once (it has no permission "
                                    "until granted one: 'dbkeeper grant USER view --target T')")
    a.add_argument("username")
    a.add_argument("--email", default="")
    a.add_argument("--staff", action="store_true",
                   help="plain staff: DBKEEPER['STAFF_PERMISSIONS'] on every target (default: only what is granted)")
    a.set_defaults(func=cmd_add)


def cmd_add(args):
    from ..audit.context import acting_user
    from ..server import migrate
    from .users import create_user

    migrate()
    user, password = create_user(args.username, email=args.email, staff=args.staff, by=acting_user())
    sys.stdout.write(f"username: {user.get_username()}\npassword: {password}\n")
    sys.stderr.write("This password is shown only once. The user may do nothing until granted a permission "
                     f"('dbkeeper grant {user.get_username()} view --target TARGET').\n")
    return 0
