"""Backup health: alerts about problems (a failed scheduled backup, a failed
verification, a stale schedule, storage errors), one per problem, delivered
in-app, by e-mail and to a signed webhook from the watchdog; and the health
overview the dashboard, ``api/health/`` and ``dbkeeper status`` show."""
