"""The standard library of block kinds: YAML definitions shipped inside the package.

Every `*.yaml` file here holds `blocks:` (one or more definitions), in the language a spec's own
`blocks:` section uses; a new library kind is one such file. A spec reads only the files it needs:
the first time it names a kind that is not built in, that kind's file is read, validated and
checked, with the files of the kinds it nests (transitively), once per process. Which file defines
which kind comes from an index that a scan of the files' text makes without parsing YAML (a test
holds it equal to the parsed files). Naming the kinds (did-you-mean hints, "expected one of") reads
only the index; `archspec blocks`, which shows every kind's fields, reads every file. A spec's own
definition of a library kind's name takes precedence in that spec.
"""

from __future__ import annotations

import json
import re
import threading
from collections import ChainMap
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from archspec.blocks.base import BLOCKS, BlockStage
from archspec.blocks.defined import DefinedStage, capped_node_count, stage_model
from archspec.definitions import LAST_DEFINED, BlockDefinition, BlockDefinitions, check_kind_set, refuse
from archspec.errors import SpecError
from archspec.library.twins import as_facts, twin_of
from archspec.loader import EXTERNAL_DOCUMENTS, Document, load_document

FOLDER = Path(__file__).parent
# A library file writes each kind as a key of its top-level `blocks:`, two spaces in (`  se_basic:`);
# nothing else in a library file starts a line with two spaces and a name.
_KIND_LINE = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*):", re.MULTILINE)


@cache
def library_index(folder: Path = FOLDER) -> Mapping[str, Path]:
    """kind -> the library file that defines it, from the files' text (no YAML is parsed): what lets
    a spec read only the files it uses. A file whose parsed kinds differ is refused when it is read."""
    index: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        for kind in _KIND_LINE.findall(path.read_text(encoding="utf-8")):
            index.setdefault(kind, path)  # a kind in two files: the second file is refused when read
    return index


class LibraryKinds(Mapping[str, type[DefinedStage]]):
    """kind -> stage model for every library kind, made when the kind is first looked up: its file and
    the files of the kinds it nests are read then. Iterating and `in` read only the index. A library
    that fails its own checks is a bug in archspec: the error says which file and where."""

    def __init__(self, index: Mapping[str, Path]):
        self._index = index
        self._definitions: dict[str, BlockDefinition] = {}  # of the files read so far, checked together
        self._origins: dict[str, str] = {}  # kind -> the EXTERNAL_DOCUMENTS key of its file
        self._models: dict[str, type[DefinedStage]] = {}
        self._lock = threading.RLock()  # two threads' first lookups make one model per kind

    def __getitem__(self, kind: str) -> type[DefinedStage]:
        model = self._models.get(kind)
        if model is None:
            if kind not in self._index:
                raise KeyError(kind)
            with self._lock:
                model = self._models.get(kind)
                if model is None:
                    if kind not in self._definitions:
                        self._read_with_nested(kind)
                    model = stage_model(kind, self._definitions[kind], (self._origins[kind], "blocks", kind), self)
                    found = twin_of(kind, self._index[kind])
                    if found is not None:  # the fast path of the check (archspec/library/twins.py)
                        model.facts = as_facts(found)  # type: ignore[method-assign]
                    self._models[kind] = model
        return model

    def __contains__(self, kind: object) -> bool:
        return kind in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def expanded_nodes(self, kind: str) -> int:
        """`nodes_per_copy` of library kind `kind` (capped as it is), from the definitions: the kinds it
        nests need no stage model for it."""
        model = self._models.get(kind)
        if model is not None:
            return model.nodes_per_copy()
        with self._lock:
            if kind not in self._definitions:
                self._read_with_nested(kind)
        # A library kind nests library or built-in kinds.
        return capped_node_count(self._definitions[kind].nodes,
                                 lambda nested: self.expanded_nodes(nested) if nested in self._index else None)

    def _read_with_nested(self, kind: str) -> None:
        """Reads the file of `kind` and of every library kind its definitions nest, not read yet, and
        checks them together with those read before (names, nested fields, cycles)."""
        read: dict[str, BlockDefinition] = {}
        origins: dict[str, str] = {}
        pending = [kind]
        while pending:
            wanted = pending.pop()
            if wanted in self._definitions or wanted in read or wanted not in self._index:
                continue  # read already, or not the library's (built in, or unknown: the check says)
            key, definitions = _read_file(self._index[wanted], self._index)
            for name, definition in definitions.items():
                read[name], origins[name] = definition, key
                pending += [node.block for node in definition.nodes if node.block is not None]
        problems = check_kind_set({**self._definitions, **read}, self)
        if problems:
            place, message, hint = problems[0]
            document = EXTERNAL_DOCUMENTS[{**self._origins, **origins}[str(place[0])]]
            raise SpecError([document.diagnostic(("blocks", *place), message, hint)])
        self._definitions.update(read)
        self._origins.update(origins)


def _read_file(path: Path, index: Mapping[str, Path]) -> tuple[str, dict[str, BlockDefinition]]:
    """(the key errors use to point into the file, its definitions), validated."""
    document = load_document(path)
    key = f"@{path}"
    EXTERNAL_DOCUMENTS[key] = document
    try:
        parsed = BlockDefinitions.model_validate_json(json.dumps(document.data), strict=True)
    except ValidationError as error:
        from archspec.validate import diagnostics

        raise SpecError(diagnostics(document, error)) from None
    _refuse_unindexed(document, path, list(parsed.blocks), index)
    return key, dict(parsed.blocks)


def _refuse_unindexed(document: Document, path: Path, kinds: list[str], index: Mapping[str, Path]) -> None:
    """The index must name this file for each kind it defines, and no other: else a spec would not
    find a kind, or would find it in another file."""
    indexed = [kind for kind, where in index.items() if where == path]
    for kind in kinds:
        if index.get(kind) != path:
            elsewhere = index.get(kind)
            raise SpecError([document.diagnostic(("blocks", kind), (
                f"library kind `{kind}` is defined in {elsewhere.name} too" if elsewhere is not None else
                f"library kind `{kind}` is not found by the library's index"),
                "write each kind once in the library, as a key two spaces in under `blocks:`", at_key=True)])
    for kind in indexed:
        if kind not in kinds:
            raise SpecError([document.diagnostic(("blocks",), (
                f"the library's index finds a kind `{kind}` in this file, which `blocks:` does not define"),
                "start only block kinds' lines with two spaces and a name", at_key=True)])


@cache
def library_kinds() -> Mapping[str, type[DefinedStage]]:
    """kind -> stage model, for every library definition (read on first use of each kind)."""
    return LibraryKinds(library_index())


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
    # A Python kind registered since these definitions were made takes one of their names: check them
    # again, so that the spec is refused as it would be in a fresh process, not built from the Python kind.
    if known is None or any(kind in BLOCKS for kind in blocks):
        refuse(check_kind_set(blocks, library), "blocks")
        own: dict[str, type[BlockStage]] = {}
        visible: ChainMap[str, type[BlockStage]] = ChainMap(own, library)  # type: ignore[arg-type]
        for kind, definition in blocks.items():
            own[kind] = stage_model(kind, definition, ("blocks", kind), visible)
        if len(_SPEC_KINDS) > 256:
            _SPEC_KINDS.clear()
        known = _SPEC_KINDS[key] = visible
    LAST_DEFINED.set(known)
    return known
