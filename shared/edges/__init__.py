"""The IO edges: small modules that each talk to one thing (HTTP via httpx, Entra tokens, Storage
queues, Event Grid). Built once per process by :mod:`shared.runtime`; they may import
:mod:`shared.core`, never :mod:`shared.watcher`, :mod:`shared.runtime` or ``tools``.
"""
