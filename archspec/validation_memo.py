"""Validated layers and stages remembered across specs, for work that validates many similar specs
(`archspec sample`).

A design space's samples repeat most of their parts as written: the stem and head are the space's
own, and a generator's stages come from a short list of widths. Within `remembering_validations()`,
a layer or stage that a built-in kind validates (strictly, in JSON mode, as every spec's part is) is
validated once per distinct JSON text, and the same frozen model is given to each spec that writes
it. Only successes are remembered: a part that fails is validated each time, so its errors are the
ones of a spec written in a file. Only built-in kinds are remembered, whose validation reads nothing
but the text (a kind defined in YAML depends on the spec's own `blocks:`). Outside it nothing is
remembered, so that a validation's cost (and `benchmarks/`) is its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_json

MAX_REMEMBERED = 16_384  # distinct parts: a few MB

_MEMO: ContextVar[dict[tuple[type[BaseModel], str], BaseModel] | None] = ContextVar("validation_memo",
                                                                                     default=None)


@contextmanager
def remembering_validations(memo: dict[tuple[type[BaseModel], str], BaseModel] | None = None) -> Iterator[None]:
    """Validations inside remember the built-in layers and stages they validate, in `memo` (a new
    one by default: pass the same dict to share it between several such blocks)."""
    token = _MEMO.set({} if memo is None else memo)
    try:
        yield
    finally:
        _MEMO.reset(token)


def json_text(value: object) -> bytes:
    """`value` (data as JSON gives it) as JSON text for Pydantic's strict JSON mode: the same values as
    `json.dumps` writes, made in Rust at a quarter of its cost (a sampled spec is dumped whole)."""
    try:
        return to_json(value)
    except PydanticSerializationError:  # a string that is not Unicode text: JSON's escape, which
        return json.dumps(value).encode()  # validation then refuses at its place


def validated_json(model: type[BaseModel], value: object) -> BaseModel:
    """`model.model_validate_json(json_text(value), strict=True)`, remembered where a memo is
    active. `model` must be a built-in kind's (its validation a function of the value alone), and
    `value` data as JSON gives it (dicts, lists, str, int, float, bool, None): their `repr` tells
    apart what JSON tells apart (1, 1.0, true, "1"), and cost less than making the text."""
    memo = _MEMO.get()
    if memo is None:
        return model.model_validate_json(json_text(value), strict=True)
    key = (model, repr(value))
    found = memo.get(key)
    if found is None:
        found = model.model_validate_json(json_text(value), strict=True)  # raises as unremembered
        if len(memo) >= MAX_REMEMBERED:
            memo.clear()
        memo[key] = found
    return found
