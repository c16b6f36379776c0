"""lro-watcher: poll Azure long-running operations from a queue, publish one outcome each.

The package shows its architecture (``docs/architecture.md``):

* :mod:`shared.core`  the pure protocol: parsing, the source table, URL rules, the decision,
  the schedule, the result. No IO; an import-linter contract (``pyproject.toml``) keeps it so.
* :mod:`shared.edges` the IO: HTTP (httpx), credentials, tokens, status reads, queues, sinks, Event Grid.
* :mod:`shared.watcher` and :mod:`shared.runtime` compose the two, once per process.

Import what you use from its module; this package re-exports nothing (importing it costs nothing).
"""
