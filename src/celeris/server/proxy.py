"""Proxy headers: take client address and scheme from X-Forwarded-*/Forwarded of trusted peers."""

from __future__ import annotations

import ipaddress

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyTrust:
    """Decide which peers are trusted proxies and read what they forwarded."""

    __slots__ = ("_all", "_hosts", "_networks")

    def __init__(self, allow: str | None) -> None:
        self._all = False
        self._hosts: set[str] = set()
        self._networks: list[_Network] = []
        for item in (allow or "").split(","):
            item = item.strip()
            if not item:
                continue
            if item == "*":
                self._all = True
            elif "/" in item:
                try:
                    self._networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError as exc:
                    raise ValueError(f"forwarded_allow_ips: {item!r} is not an IP network") from exc
            else:
                self._hosts.add(item)

    def __bool__(self) -> bool:
        return self._all or bool(self._hosts) or bool(self._networks)

    def trusts(self, host: str) -> bool:
        """Tell whether ``host`` is a trusted proxy."""
        if self._all or host in self._hosts:
            return True
        if not self._networks:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self._networks)

    def resolve(
        self, client: tuple[str, int] | None, scheme: str, headers: list[tuple[bytes, bytes]]
    ) -> tuple[tuple[str, int] | None, str]:
        """Return the (client, scheme) to use for a request from ``client``."""
        if client is None or not self.trusts(client[0]):
            return client, scheme
        forwarded_for: list[str] = []
        proto: str | None = None
        for name, value in headers:
            if name == b"x-forwarded-for":
                forwarded_for.extend(p.strip() for p in value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
            elif name == b"forwarded":
                for element in value.decode("latin-1").split(","):
                    for pair in element.split(";"):
                        key, _, val = pair.strip().partition("=")
                        val = val.strip().strip('"')
                        if key.lower() == "for" and val:
                            if val.startswith("["):
                                val = val[1:].partition("]")[0]
                            elif val.count(":") == 1:
                                val = val.partition(":")[0]
                            forwarded_for.append(val)
                        elif key.lower() == "proto" and val:
                            proto = val.lower()
        if proto in ("http", "https", "ws", "wss"):
            if scheme in ("ws", "wss"):
                scheme = "wss" if proto in ("https", "wss") else "ws"
            else:
                scheme = "https" if proto in ("https", "wss") else "http"
        # SECURITY: walk from the nearest hop; the first untrusted address is the client.
        for host in reversed([h for h in forwarded_for if h]):
            if not self.trusts(host):
                return (host, 0), scheme
        if forwarded_for and forwarded_for[0]:
            return (forwarded_for[0], 0), scheme
        return client, scheme
