"""What the sessions app tells other apps, which it never imports (analysis/ listens)."""

from django.dispatch import Signal

# A session has just become stopped or failed, inside the transaction that ended it; once for
# each session. Arguments: `session`. Receivers queue their work with transaction.on_commit.
session_ended = Signal()

# The end-of-conversation callback's body is being made. Arguments: `session`. Each receiver
# returns a dict of top-level keys to add to the body, or None.
callback_composing = Signal()
