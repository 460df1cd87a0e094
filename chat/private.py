"""Paths for this host and private networks only: `/healthz` and `/metrics`.

What a probe or a scraper reads (which checks fail, how many answers run) is not
for the public. nginx refuses other addresses for these paths with the same
ranges (deploy/nginx/chatsite.conf; a test keeps the two lists equal), and the
site refuses them too, for a process reached without nginx.
"""

from functools import wraps
from ipaddress import ip_address, ip_network

from django.http import Http404

# Loopback and the RFC 1918 ranges, exactly nginx's `allow` lines.
PRIVATE_NETWORKS = tuple(
    ip_network(network)
    for network in ("127.0.0.1", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def is_private(address: str | None) -> bool:
    """Whether a client address lies in one of the private networks."""
    try:
        ip = ip_address(address or "")
    except ValueError:  # no address (a unix socket), or not one
        return False
    # An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return any(ip in network for network in PRIVATE_NETWORKS)


def private_only(view):
    """Answer a client outside the private networks like a missing page."""

    @wraps(view)
    async def guarded(request, *args, **kwargs):
        if not is_private(request.META.get("REMOTE_ADDR")):
            raise Http404
        return await view(request, *args, **kwargs)

    return guarded
