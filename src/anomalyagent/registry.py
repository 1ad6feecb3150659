"""A small named registry of factories: ``register``, ``create(name, **kwargs)``, ``names()``.

One meaning everywhere: a name maps to a factory that takes keyword arguments and
returns the backend (a class, or a function returning the object to use). Backends
(renderers, tools' planners/editors/judges/maskers, policies, critics, synthesis
methods) are picked by name, so a new backend is one file and one
``@REGISTRY.register("name")`` line, and an AgentConfig's ``{name: ..., **options}``
builds it with ``REGISTRY.create(name, **options)``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = factory
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (KeyError listing the known names otherwise)."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, /, **kwargs: Any) -> T:
        """Build the backend ``name`` with keyword arguments (a bad one names the backend)."""
        factory = self.get(name)
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # some builtins have none: just call
            signature = None
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError as exc:
                allowed = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
                raise TypeError(f"{self.kind} {name!r}: {exc}; its options: {', '.join(allowed) or '(none)'}") from None
        return factory(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
