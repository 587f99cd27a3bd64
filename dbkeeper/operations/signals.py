from django.dispatch import Signal

# Sent with ``operation=`` once an operation has reached its final status
# (succeeded, failed or cancelled). Notifications listen to it.
operation_finished = Signal()

# Sent by the watchdog after each sweep (no arguments): periodic checks that
# must not run in a web request or a worker (alert e-mails, the webhook) listen.
watchdog_swept = Signal()
