"""The hook every Taisly call goes through, so the quota ledger plugs in without the client.

``taisly_call`` is sent after every call, success or failure (timeouts included), with
``sender=TaislyClient``, ``record=CallRecord(...)`` and ``context=client.context`` (whatever the
caller attached to the client, e.g. the connection the key belongs to). Receivers run through
``send_robust``: one that raises is logged and does not break the call.
"""

from __future__ import annotations

import django.dispatch

taisly_call = django.dispatch.Signal()
