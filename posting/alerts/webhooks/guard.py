"""Where a webhook may go. In production only https URLs whose every address is public are
accepted, checked when the endpoint is saved, before each try, and again on the socket actually
connected (a name that resolves elsewhere at connect time is refused too).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class WebhookRefused(Exception):
    """A URL or address webhooks may not go to; ``message`` says why, for the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_url(url: str) -> None:
    """Raise ``WebhookRefused`` unless webhooks may be sent to ``url`` under the settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(_("Enter a full URL that starts with https://."))
    if settings.WEBHOOK_REQUIRE_HTTPS and parts.scheme != "https":
        raise WebhookRefused(_("Webhook URLs must start with https://."))
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise WebhookRefused(_("The URL's host name could not be found.")) from None
    if not infos or any(_forbidden(info[4][0]) for info in infos):
        raise WebhookRefused(
            _(
                "The URL points to a private, loopback or reserved address; webhooks only go "
                "to public addresses."
            )
        )


def guarded_session() -> requests.Session:
    """The session every try goes through: no proxy from the environment (it would hide the
    real peer) and, unless private addresses are allowed, connections that check the address
    they actually reached."""
    session = requests.Session()
    session.trust_env = False
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        session.mount("http://", _PublicAdapter(max_retries=0))
        session.mount("https://", _PublicAdapter(max_retries=0))
    return session


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


class _PublicOnly:
    """A connection that checks the address it actually connected to (DNS may have changed
    between the check and the connect)."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if _forbidden(peer):
            sock.close()
            raise WebhookRefused(_("The URL resolved to a private address when connecting."))
        return sock


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }
