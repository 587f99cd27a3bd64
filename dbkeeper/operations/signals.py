from django.dispatch import Signal

# Sent with ``operation=`` once an operation has reached its final status
# (succeeded, failed or cancelled). Notifications listen to it.
operation_finished = Signal()
