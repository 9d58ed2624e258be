"""Load pass: YAML text -> plain Python data plus the line and column of every node.

This is the only module that touches YAML. It composes the node graph with PyYAML's safe loader and
builds the data itself, so that it can (1) remember where every value came from, (2) refuse tags,
duplicate keys and alias bombs instead of silently accepting them, and (3) bound the work it does.
Nothing in a spec is ever executed: only the plain YAML types (map, list, str, int, float, bool, null)
are constructed, whatever tag the text asks for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from archspec.errors import Diagnostic, SpecError, SpecPath

MAX_BYTES = 1_000_000  # a real spec is a few kB; a megabyte is already absurd
MAX_NODES = 100_000  # after alias expansion: stops "billion laughs" long before memory is at risk
MAX_DEPTH = 64

_PLAIN_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Document:
    """Parsed spec data and where each value sits in the text it came from."""

    data: object
    file: str | None = None
    text: str = ""
    marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)  # value: (line, col), 0-based
    key_marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)  # the key's own position

    def diagnostic(
        self, path: SpecPath, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> Diagnostic:
        """A diagnostic placed at `path`, or at its nearest ancestor that exists in the text."""
        mark = None
        probe = tuple(path)
        while mark is None:
            mark = (self.key_marks.get(probe) if at_key else None) or self.marks.get(probe)
            if mark is None and not probe:
                break
            probe = probe[:-1]
        line = column = source_line = None
        if mark is not None:
            line, column = mark[0] + 1, mark[1] + 1
            lines = self.text.splitlines()
            if mark[0] < len(lines):
                source_line = lines[mark[0]]
        return Diagnostic(tuple(path), message, hint, self.file, line, column, source_line)


class _Builder:
    """Turns a composed YAML node graph into plain data, recording marks and collecting errors."""

    def __init__(self, document_file: str | None, text: str):
        self.file = document_file
        self.text = text
        self.marks: dict[SpecPath, tuple[int, int]] = {}
        self.key_marks: dict[SpecPath, tuple[int, int]] = {}
        self.errors: list[tuple[SpecPath, yaml.Node, str, str | None]] = []
        self.nodes_seen = 0
        self._scalar_loader = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: SpecPath, depth: int) -> object:
        self.nodes_seen += 1
        if self.nodes_seen > MAX_NODES:
            raise _TooBig(node, f"the document expands to more than {MAX_NODES:,} nodes")
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"the document nests deeper than {MAX_DEPTH} levels")
        self.marks.setdefault(path, (node.start_mark.line, node.start_mark.column))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                return self._bad_tag(node, path)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: SpecPath, depth: int) -> object:
        if node.tag != _MAP_TAG:
            return self._bad_tag(node, path)
        result: dict[str, object] = {}
        merged: dict[str, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *defaults` shares settings between stages
                merged.update(self._merge_source(value_node, path, depth))
                continue
            key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.errors.append((path, key_node, "a key must be a plain name", None))
                continue
            if key in result:
                first = self.key_marks[(*path, key)][0] + 1
                self.errors.append(
                    ((*path, key), key_node, f"duplicate key `{key}` (first given on line {first})",
                     "remove one of the two: YAML would silently keep only the last"))
                continue
            self.key_marks[(*path, key)] = (key_node.start_mark.line, key_node.start_mark.column)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return {**merged, **result}

    def _merge_source(self, node: yaml.Node, path: SpecPath, depth: int) -> dict[str, object]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, object] = {}
        for source in sources:
            value = self.build(source, path, depth + 1)
            if isinstance(value, dict):
                merged = {**value, **merged}  # earlier sources win, as in the YAML merge-key spec
            else:
                self.errors.append((path, source, "`<<` must merge a mapping", None))
        return merged

    def _scalar(self, node: yaml.Node, path: SpecPath) -> object:
        if node.tag not in _PLAIN_SCALAR_TAGS:
            return self._bad_tag(node, path)
        value = self._scalar_loader.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            self.errors.append((path, node, f"expected a finite number, found `{node.value}`", None))
            return None
        return value

    def _bad_tag(self, node: yaml.Node, path: SpecPath) -> None:
        self.errors.append(
            (path, node, f"YAML tag `{node.tag}` is not allowed in a spec",
             "a spec is plain data: use maps, lists, strings and numbers only"))
        return None


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.node = node


def _error_at(file: str | None, text: str, line: int, column: int, message: str,
              hint: str | None = None, path: SpecPath = ()) -> SpecError:
    document = Document(None, file, text, {path: (line, column)})
    return SpecError([document.diagnostic(path, message, hint)])


def read_source(source: str | Path) -> tuple[str, str | None]:
    """(text, file name) from a path or from YAML text itself (text has a newline or a `:`)."""
    if isinstance(source, Path) or ("\n" not in source and ":" not in source):
        path = Path(source)
        try:
            raw = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
        except OSError as error:
            raise SpecError([Diagnostic((), f"cannot read spec file: {error.strerror}",
                                        "check the path", str(path))]) from None
        if raw is None:
            raise SpecError([Diagnostic((), f"spec file is larger than {MAX_BYTES:,} bytes",
                                        None, str(path))])
        try:
            return raw.decode("utf-8"), str(path)
        except UnicodeDecodeError as error:
            raise SpecError([Diagnostic((), f"spec file is not UTF-8 (byte {error.start})",
                                        "save the file as UTF-8", str(path))]) from None
    return source, None


def load_document(source: str | Path) -> Document:
    """Parse a spec file (or YAML text) into a `Document`; raise `SpecError` listing every problem."""
    text, file = read_source(source)
    if len(text) > MAX_BYTES:
        raise SpecError([Diagnostic((), f"spec text is larger than {MAX_BYTES:,} bytes", None, file)])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line, mark.column) if mark else (0, 0)
        problem = error.problem or "invalid YAML"
        raise _error_at(file, text, line, column, f"invalid YAML: {problem}",
                        "check the indentation and the `key: value` syntax") from None
    except yaml.YAMLError as error:  # e.g. a control character the reader refuses
        raise SpecError([Diagnostic((), f"invalid YAML: {error}", None, file)]) from None
    if root is None:
        raise SpecError([Diagnostic((), "the spec is empty", "start from a file in specs/", file)])
    builder = _Builder(file, text)
    try:
        data = builder.build(root, (), 0)
    except _TooBig as error:
        mark = error.node.start_mark
        raise _error_at(file, text, mark.line, mark.column, f"spec too large: {error}",
                        "a spec should be a few hundred lines without deep aliases") from None
    except RecursionError:
        raise SpecError([Diagnostic((), "spec nests too deeply", None, file)]) from None
    document = Document(data, file, text, builder.marks, builder.key_marks)
    if builder.errors:
        raise SpecError([
            Document(None, file, text, {path: (node.start_mark.line, node.start_mark.column)})
            .diagnostic(path, message, hint)
            for path, node, message, hint in builder.errors
        ])
    return document
