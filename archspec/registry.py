"""Registries of layer and block kinds: a kind name maps to the one class that defines it.

A registry refuses a second class for the same name, so two definitions can never shadow each other.
Names come only from the classes' `Literal` tag fields, never from a spec: a spec can pick among the
registered kinds, it cannot make the program import or run anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar, get_args

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=type[BaseModel])


class Registry(Generic[ModelT]):
    def __init__(self, tag_field: str):
        self.tag_field = tag_field
        self._kinds: dict[str, ModelT] = {}

    def register(self, model: ModelT) -> ModelT:
        """Class decorator: registers `model` under the value of its tag field's Literal."""
        annotation = model.model_fields[self.tag_field].annotation
        (name,) = get_args(annotation)
        if name in self._kinds:
            raise ValueError(
                f"{self.tag_field} kind {name!r} is already registered by {self._kinds[name].__name__}; "
                f"give {model.__name__} another {self.tag_field} name")
        self._kinds[name] = model
        return model

    def remove(self, name: str) -> None:
        """Unregisters a kind (a test's own kind, once the test is done)."""
        del self._kinds[name]

    def get(self, name: str, default: ModelT | None = None) -> ModelT | None:
        return self._kinds.get(name, default)

    def __getitem__(self, name: str) -> ModelT:
        return self._kinds[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._kinds

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def names(self) -> list[str]:
        return list(self._kinds)

    def models(self) -> tuple[ModelT, ...]:
        return tuple(self._kinds.values())

    def items(self) -> list[tuple[str, ModelT]]:
        return list(self._kinds.items())

