"""The audit log: who did what, when, from where, and how it ended, in an
append-only, HMAC-chained table of the control database.

- models.py: the row (AuditEntry), which refuses updates and deletes;
- chain.py: the key, the canonical content and the HMAC chain, and its check;
- service.py: ``record()``, the one way rows are written;
- context.py: the request being served (address, user agent, credential);
- receivers.py: sign-in signals and the end of long operations;
- commands.py: ``dbkeeper audit`` (export) and ``dbkeeper audit verify``.
"""
