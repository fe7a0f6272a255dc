"""Where webhooks may go: https only (plain http for allow-listed hosts), and never to
private, loopback or link-local addresses unless their network is allowed (SSRF).

A URL is checked when its endpoint is created and again at every delivery: the
host is resolved, every address it resolves to must be allowed, and the request is
sent to the checked address itself (with the original Host and TLS server name), so
a DNS answer that changes between the check and the connection cannot redirect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from backend.config import Settings
from backend.errors import AppError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEVELOPMENT_HTTP_HOSTS = ("localhost", "127.0.0.1", "::1")
DEVELOPMENT_NETWORKS = ("127.0.0.0/8", "::1/128")
MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT = 5.0


class InvalidWebhookUrl(AppError):
    status = 422
    code = "INVALID_WEBHOOK_URL"
    title = "Webhook URL not allowed"


class TargetRefused(Exception):
    """The URL's host resolves to an address webhooks may not be sent to."""


class TargetUnresolvable(TargetRefused):
    """The URL's host resolves to no address (now)."""


@dataclass(frozen=True)
class TargetPolicy:
    http_hosts: frozenset[str]
    allowed_networks: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        development = settings.environment == "development"
        hooks = settings.webhooks
        hosts = hooks.http_hosts
        if hosts is None:
            hosts = list(DEVELOPMENT_HTTP_HOSTS) if development else []
        networks = hooks.allowed_networks
        if networks is None:
            networks = list(DEVELOPMENT_NETWORKS) if development else []
        return cls(
            http_hosts=frozenset(_normal_host(h) for h in hosts),
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in networks),
        )

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return True
        return address.is_global and not address.is_multicast


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


def check_url(url: str, policy: TargetPolicy) -> httpx.URL:
    """The parsed URL when its form is allowed; InvalidWebhookUrl (422) otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise InvalidWebhookUrl("The webhook URL is not a valid absolute URL.") from None
    host = _normal_host(parsed.host)
    if len(url) > MAX_URL_LENGTH or not host or parsed.scheme not in ("http", "https"):
        raise InvalidWebhookUrl(
            f"The webhook URL must be an absolute https:// URL of at most {MAX_URL_LENGTH} "
            "characters."
        )
    if parsed.userinfo:
        raise InvalidWebhookUrl(
            "The webhook URL must not contain credentials: verify deliveries by their "
            "signature instead."
        )
    if parsed.scheme == "http" and host not in policy.http_hosts:
        raise InvalidWebhookUrl(
            "The webhook URL must use https://. Plain http:// is accepted only for hosts "
            "on the server's allow-list (OPSAPI_WEBHOOKS__HTTP_HOSTS)."
        )
    with contextlib.suppress(ValueError):
        if not policy.allows(ipaddress.ip_address(host)):
            raise InvalidWebhookUrl(_refused(host))
    return parsed


def _refused(host: str) -> str:
    return (
        f"The webhook URL's host {host} is a private, loopback or link-local address, which "
        "webhooks are not sent to. Use a public address, or ask the operator to allow its "
        "network (OPSAPI_WEBHOOKS__ALLOWED_NETWORKS)."
    )


async def resolve(url: httpx.URL, policy: TargetPolicy) -> IPAddress:
    """The address to connect to; TargetRefused when any address the host resolves to
    is not allowed, or when it does not resolve."""
    host = _normal_host(url.host)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError) as exc:
        raise TargetUnresolvable(f"The host {host} could not be resolved ({exc}).") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetUnresolvable(f"The host {host} resolves to no address.")
    refused = [a for a in addresses if not policy.allows(a)]
    if refused:
        raise TargetRefused(_refused(str(refused[0])))
    return addresses[0]


async def check_resolved(url: httpx.URL, policy: TargetPolicy) -> None:
    """At creation: refuse a host that resolves to a refused address now. A host that
    does not resolve yet is accepted; every delivery checks again."""
    try:
        await resolve(url, policy)
    except TargetUnresolvable:
        return
    except TargetRefused as exc:
        raise InvalidWebhookUrl(str(exc)) from None


def pinned(url: httpx.URL, address: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The request URL aimed at ``address``, with the Host header and the TLS server
    name (also used to verify the certificate) of the original host."""
    host = url.host
    target = url.copy_with(host=str(address))
    named = f"[{host}]" if ":" in host else host
    headers = {"Host": named if url.port is None else f"{named}:{url.port}"}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    return target, headers, extensions
