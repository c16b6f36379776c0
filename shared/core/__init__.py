"""The pure core: everything lro-watcher decides, with no IO (no sockets, no clock, no SDK clients).

Functions here take the request state, an HTTP status, headers, a body and ``now``, and return a
decision. ``pyproject.toml``'s import-linter contracts forbid imports of :mod:`shared.edges`,
``azure``, ``httpx`` and ``tools`` from this package.
"""
