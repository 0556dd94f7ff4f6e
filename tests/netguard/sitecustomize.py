"""A network guard for tests: any non-loopback connection is refused and recorded.

Put this folder first on ``PYTHONPATH`` (``make test`` does) and every Python process started
with it, Jupyter kernels included, refuses connections and name lookups outside loopback and
appends a line to ``$MRICOMPENDIUM_NETGUARD_LOG`` (``<pid> <what> <address>``). Unix sockets
and 127.0.0.0/8, ::1 stay allowed (ZeroMQ between a kernel and its client uses them). C code
that opens its own sockets (libzmq, libcurl) is not seen; Python's socket module is.
"""

from __future__ import annotations

import ipaddress
import os
import socket

_LOG = os.environ.get("MRICOMPENDIUM_NETGUARD_LOG", "")
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str, address: object) -> None:
    if _LOG:
        try:
            os.makedirs(os.path.dirname(_LOG) or ".", exist_ok=True)
            with open(_LOG, "a") as f:
                f.write(f"{os.getpid()} {what} {address!r}\n")
        except OSError:
            pass
    raise ConnectionRefusedError(f"network disabled by the test guard: {what} {address!r}")


def _check(sock: socket.socket, address: object, what: str) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not _loopback(address[0]):
            _refuse(what, address)


def _connect(self: socket.socket, address: object) -> None:
    _check(self, address, "connect")
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address, "connect")
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: bytes, *args: object) -> int:
    _check(self, args[-1], "sendto")
    return _real_sendto(self, data, *args)


def _getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if host is not None and not _loopback(host):
        _refuse("getaddrinfo", host)
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
socket.socket.sendto = _sendto  # type: ignore[method-assign]
socket.getaddrinfo = _getaddrinfo
