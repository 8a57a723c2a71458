"""A thread-safe cache that keeps the most recently used entries, up to a bound
that the settings may change while it is in use.

Every process-wide cache of the server is one of these (or says in
docs/memory.md why it is not), so that what a long-running process holds
stays proportional to a setting, not to the data it has seen: a server with
100,000 objects that kept a rendering of each would hold them all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``entries`` values (0: none kept), the least recently used dropped first.

    With ``weigh``, ``entries`` bounds the sum of the values' weights instead
    (e.g. ``len`` of bytes: a bound in bytes), and a value heavier than the
    whole bound is not kept."""

    def __init__(self, entries: int, weigh: Callable[[V], int] | None = None) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._weigh = weigh or (lambda value: 1)
        self._weight = 0
        self.entries = entries

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: K, value: V) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= self._weigh(old)
            if self._weigh(value) <= self.entries:
                self._items[key] = value
                self._weight += self._weigh(value)
            self._trim()

    def resize(self, entries: int) -> None:
        """Keep at most ``entries`` from now on, dropping the oldest beyond it now."""
        with self._lock:
            self.entries = entries
            self._trim()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """The sum of the kept values' weights (their number without ``weigh``)."""
        return self._weight

    def _trim(self) -> None:
        while self._weight > self.entries and self._items:
            self._weight -= self._weigh(self._items.popitem(last=False)[1])
