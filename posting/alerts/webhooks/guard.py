"""Where a webhook may go. In production only https URLs whose every address is public are
accepted. The address is decided before connecting: the host is resolved once, every address it
resolves to is checked, and the try connects to a checked address (``transport``), so a name
that resolves elsewhere a moment later (DNS rebinding) never reaches the internal network.

Hand-written rather than a library: requests-hardened (Saleor's, kept) pins the address too,
but checks only the first one the name resolves to and calls ``is_private``, which on Python
3.11 lets the IPv4-compatible ``::a9fe:a9fe`` through; advocate is unmaintained; the others
(drawbridge, ssrfguard, egressweave) are young single-author httpx wrappers. And the try needs
its own connection class anyway, for the overall deadline.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

#: IPv6 forms that carry an IPv4 address, refused outright: a webhook never needs them, and
#: where they route depends on relays or the operator (local-use NAT64 embeds the IPv4 address
#: at a place only the operator knows; 6to4 and Teredo are deprecated relays; IPv4-compatible and
#: IPv4-translated addresses are obsolete). Plus the 6to4 relays' own IPv4 anycast range.
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056, deprecated by RFC 7526)
        "2001::/32",  # Teredo (RFC 4380)
        "::/96",  # IPv4-compatible (RFC 4291, deprecated)
        "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765)
        "192.88.99.0/24",  # 6to4 relay anycast
        "fec0::/10",  # site-local (RFC 3879, deprecated; Python 3.11 counts it as global)
        "3fff::/20",  # documentation (RFC 9637, 2024)
    )
)
#: The well-known NAT64 prefix: here the embedded IPv4 address is checked instead, because on an
#: IPv6-only network with DNS64 every IPv4-only host (public ones too) resolves into it.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookRefused(Exception):
    """A URL or address webhooks may not go to; ``message`` says why, for the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where one try goes: the URL's parts and the checked addresses to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def check_url(url: str) -> None:
    """Raise ``WebhookRefused`` unless webhooks may be sent to ``url`` under the settings (on
    save; each try checks again)."""
    _parts(url)
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        target_for(url, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)


def target_for(url: str, *, timeout: float) -> Target:
    """``url`` resolved (within ``timeout`` seconds) and checked: raises ``WebhookRefused``
    for a URL, or any address of its host, that webhooks may not go to."""
    parts, port = _parts(url)
    addresses = _resolve(parts.hostname, port, timeout)
    if not settings.WEBHOOK_ALLOW_PRIVATE and not all(is_public(a) for a in addresses):
        raise WebhookRefused(
            _(
                "The URL points to a private, loopback or reserved address; webhooks only go "
                "to public addresses."
            )
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path, addresses)


def rule() -> str:
    """Where a webhook may go under the settings, in one sentence for the form's help: the
    same two settings ``_parts`` and ``target_for`` decide by (development takes http:// and
    loopback addresses, production neither)."""
    if settings.WEBHOOK_REQUIRE_HTTPS and not settings.WEBHOOK_ALLOW_PRIVATE:
        return _("The URL must start with https:// and reach a public address.")
    if settings.WEBHOOK_REQUIRE_HTTPS:
        return _(
            "The URL must start with https://; private and loopback addresses are allowed "
            "on this server."
        )
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        return _("The URL may start with http:// or https:// and must reach a public address.")
    return _(
        "The URL may start with http:// or https://; private and loopback addresses (such as "
        "127.0.0.1) are allowed on this server."
    )


def _full_url_sentence() -> str:
    if settings.WEBHOOK_REQUIRE_HTTPS:
        return _("Enter a full URL that starts with https://.")
    return _("Enter a full URL that starts with http:// or https://.")


def _parts(url: str) -> tuple[SplitResult, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(_full_url_sentence())
    if settings.WEBHOOK_REQUIRE_HTTPS and parts.scheme != "https":
        raise WebhookRefused(_("Webhook URLs must start with https://."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookRefused(_full_url_sentence()) from None
    return parts, port


def is_public(address: str) -> bool:
    """Whether webhooks may connect to ``address``: a global unicast address, after looking
    through the IPv6 forms that carry an IPv4 one."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip.version == net.version and ip in net for net in REFUSED_NETWORKS):
        return False
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int, timeout: float) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)  # a literal address: nothing to look up
    except ValueError:
        pass
    # getaddrinfo has no timeout of its own (the system resolver's can be long, and the
    # owner's name server may be slow on purpose): it runs in a thread the try waits for only
    # until its deadline. A lookup left behind ends on the resolver's own timeout.
    found: dict = {}

    def lookup() -> None:
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as exc:
            found["error"] = exc

    thread = threading.Thread(target=lookup, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(max(timeout, 0))
    infos = found.get("infos")
    if not infos:
        raise WebhookRefused(_("The URL's host name could not be found."))
    addresses = []
    for family, *_rest, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise WebhookRefused(_("The URL's host name could not be found."))
    return tuple(addresses)
