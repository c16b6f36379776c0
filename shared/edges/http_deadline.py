"""A deadline on a whole HTTP exchange, for httpx (which has per-phase timeouts only).

httpcore's network backend is its documented seam for the socket layer: :class:`DeadlineBackend`
wraps the standard ``httpcore.SyncBackend`` so that every connect, TLS handshake, read and write
gets at most the time left of the calling thread's :class:`Deadline`, and none starts once it is
gone (``httpcore.ReadTimeout`` etc., which httpx maps to its own timeouts). The deadline belongs
to the thread making the request, so a kept-alive connection used by another thread later obeys
that thread's deadline. :class:`DeadlineTransport` is httpx's own ``HTTPTransport`` over a pool with
that backend.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

__all__ = ["Deadline", "DeadlineBackend", "DeadlineTransport"]


class Deadline:
    """The current thread's deadline (a ``time.monotonic()`` instant), set around one exchange."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def running(self, seconds: float | None) -> Iterator[None]:
        self._local.at = None if seconds is None else time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.at = None

    @property
    def passed(self) -> bool:
        at = getattr(self._local, "at", None)
        return at is not None and time.monotonic() >= at

    def cap(self, timeout: float | None, timed_out: type[Exception]) -> float | None:
        """``timeout``, but no longer than the time left; ``timed_out`` is raised when none is left."""
        at = getattr(self._local, "at", None)
        if at is None:
            return timeout
        left = at - time.monotonic()
        if left <= 0:
            raise timed_out("the deadline of the whole exchange has passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation is capped by the thread's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, self._deadline.cap(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's standard sync backend, every stream it opens capped by ``deadline``; counts the connections it opens."""

    def __init__(self, deadline: Deadline) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline
        self.connections_opened = 0

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.connections_opened += 1  # counted as it starts: a connect that fails opened one too
        capped = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, capped, local_address, socket_options), self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's ``HTTPTransport`` (request and error mapping unchanged) over a pool of deadline-capped connections."""

    def __init__(self, deadline: Deadline, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self._backend = DeadlineBackend(deadline)
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self._backend,
        )

    @property
    def connections_opened(self) -> int:
        """How many connections this pool has opened (a request that opened none reused a kept-alive one)."""
        return self._backend.connections_opened
