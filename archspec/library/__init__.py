"""The standard library of block kinds: YAML definitions shipped inside the package.

Every `*.yaml` file here holds `blocks:` (one or more definitions), in the language a spec's own
`blocks:` section uses; a new library kind is one such file. They are read, validated and checked
together once per process, the first time a spec names a kind that is not built in, and are visible
to every spec. A spec's own definition of a library kind's name takes precedence in that spec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from archspec.blocks.base import BlockStage
from archspec.blocks.defined import DefinedStage, stage_model
from archspec.definitions import LAST_DEFINED, BlockDefinition, BlockDefinitions, check_kind_set, refuse
from archspec.errors import SpecError
from archspec.loader import EXTERNAL_DOCUMENTS, load_document

FOLDER = Path(__file__).parent


@cache
def library_kinds() -> Mapping[str, type[DefinedStage]]:
    """kind -> stage model, for every library definition. A library that fails its own checks is a
    bug in archspec: the error says which file and where."""
    visible: dict[str, type[BlockStage]] = {}
    definitions: dict[str, BlockDefinition] = {}
    origins: dict[str, str] = {}
    for path in sorted(FOLDER.glob("*.yaml")):
        document = load_document(path)
        key = f"@{path}"
        EXTERNAL_DOCUMENTS[key] = document
        try:
            parsed = BlockDefinitions.model_validate_json(json.dumps(document.data), strict=True)
        except ValidationError as error:
            from archspec.validate import diagnostics

            raise SpecError(diagnostics(document, error)) from None
        for kind, definition in parsed.blocks.items():
            definitions[kind] = definition
            origins[kind] = key
    problems = check_kind_set(definitions, {})
    if problems:
        place, message, hint = problems[0]
        raise SpecError([EXTERNAL_DOCUMENTS[origins[str(place[0])]].diagnostic(("blocks", *place), message, hint)])
    for kind, definition in definitions.items():
        visible[kind] = stage_model(kind, definition, (origins[kind], "blocks", kind), visible)
    return visible  # type: ignore[return-value]


_SPEC_KINDS: dict[str, Mapping[str, type[BlockStage]]] = {}


def spec_kinds(blocks: Mapping[str, BlockDefinition]) -> Mapping[str, type[BlockStage]]:
    """The kinds a spec's stages may name beyond the built-in ones: the library's and the spec's own
    (`blocks:`), whose stage models are made once per distinct `blocks:` section. Raises the
    definitions' problems across kinds (unknown nested kinds, cycles) at their places."""
    library = library_kinds()
    if not blocks:
        LAST_DEFINED.set(library)
        return library
    key = json.dumps({kind: definition.model_dump(mode="json", by_alias=True) for kind, definition in blocks.items()},
                     sort_keys=True)
    known = _SPEC_KINDS.get(key)
    if known is None:
        refuse(check_kind_set(blocks, library), "blocks")
        visible: dict[str, type[BlockStage]] = dict(library)
        for kind, definition in blocks.items():
            visible[kind] = stage_model(kind, definition, ("blocks", kind), visible)
        if len(_SPEC_KINDS) > 256:
            _SPEC_KINDS.clear()
        known = _SPEC_KINDS[key] = visible
    LAST_DEFINED.set(known)
    return known
