"""Which address a client comes from: the peer, or behind trusted proxies the X-Forwarded-For entry.

``RVW_TRUSTED_PROXIES`` names proxies (addresses or CIDR ranges, comma-separated) whose
``X-Forwarded-For`` is believed. When the peer is one of them, the client is the right-most
entry of the header that is not itself a trusted proxy (entries to its left were written by the
client and may be anything). When the peer is not trusted, the header is ignored. Every limit
per address (connections, open requests, log-ins) uses this one answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxiesError(ValueError):
    pass


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, raw: str | None) -> TrustedProxies:
        networks: list[Network] = []
        for item in (raw or "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise TrustedProxiesError(f"{item!r} is not an address or CIDR range") from None
        return cls(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in net for net in self.networks)

    def trusts_peer(self, peer: str | None) -> bool:
        return self.trusts(_address(peer or ""))

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address for limits and logs ("" when the peer is unknown)."""
        peer_address = _address(peer or "")
        if peer_address is None:
            return peer or ""
        if not forwarded_for or not self.trusts(peer_address):
            return str(peer_address)
        client = peer_address
        for entry in reversed(forwarded_for.split(",")[-32:]):
            address = _address(entry)
            if address is None:
                break  # a garbled entry: believe no further left than the last good one
            client = address
            if not self.trusts(address):
                break
        return str(client)
