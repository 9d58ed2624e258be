"""Models that Pydantic's shortcuts cannot build unvalidated: the layers, blocks, `input` and list
stages of a spec. Pydantic's `model_copy(update=...)` and `model_construct` skip validation, and a
model built so would pass unchecked into `Spec(...)` (Pydantic does not revalidate instances), where
a linear width of -5 would give the output shape (-5,). Here `model_copy(update=...)` validates the
copy as a spec file's values are (strict, JSON mode: ValidationError on a bad value) and
`model_construct` is refused. `Spec` has its own versions, which name the file's places.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python


class ValidatedCopies(BaseModel):
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy; with `update` ({field: value}), a new model validated with the changed fields."""
        if not update:
            return super().model_copy(deep=deep)
        data = {**self.model_dump(mode="json", exclude_unset=True), **to_jsonable_python(dict(update))}
        return type(self).model_validate_json(json.dumps(data), strict=True)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Any:
        raise TypeError(f"{cls.__name__}.model_construct would skip validation: use {cls.__name__}(...) "
                        "or model_copy(update={...}), which validate")
