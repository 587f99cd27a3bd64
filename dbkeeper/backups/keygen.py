"""``dbkeeper keygen [--output FILE]``: a new age identity for encrypted backups."""

import sys


def register(sub):
    p = sub.add_parser("keygen", help="create an age identity (key pair) for encrypting backups")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="file to write the identity to (created with mode 0600, never overwritten); "
                        "without it the identity is printed")
    p.set_defaults(func=cmd_keygen, needs_django=False)


WARNING = (
    "Keep this identity file safe and keep a copy somewhere else, for example in a password manager.\n"
    "If it is lost, every backup encrypted to its public key is lost too: nobody, not even dbkeeper, can decrypt them.\n"
    "Put the public key in DBKEEPER[\"AGE_RECIPIENTS\"] (or DBKEEPER_AGE_RECIPIENTS) and the identity file's path in\n"
    "DBKEEPER[\"AGE_IDENTITY_FILE\"] (or DBKEEPER_AGE_IDENTITY_FILE) on the workers that restore and verify.\n"
)


def cmd_keygen(args):
    from .encryption import generate_identity

    if args.output:
        public = generate_identity(args.output)
        sys.stdout.write(f"Public key: {public}\n")
        sys.stderr.write(f"Wrote the identity (the private key) to {args.output}.\n{WARNING}")
        return 0
    from pyrage import x25519

    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    sys.stdout.write(f"# public key: {public}\n{identity}\n")
    sys.stderr.write(f"Public key: {public}\n{WARNING}")
    return 0
