"""Load pass: YAML text -> plain Python data plus the line and column of every node.

With archspec/loader_compose.py (text -> PyYAML's node graph, bounded), the only code that touches
YAML. It composes the node graph with PyYAML's safe loader and builds the data itself, so that it can
(1) remember where every value came from, (2) refuse tags, duplicate keys and alias bombs instead of
silently accepting them, and (3) bound the work it does. Nothing in a spec is ever executed: only the
plain YAML types (map, list, str, int, float, bool, null) are constructed, whatever tag the text asks
for. `dump` writes spec data back as YAML text that loads as the same data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from archspec.errors import Diagnostic, SpecError, SpecPath
from archspec.loader_compose import (
    EXPONENT_FLOAT,
    MAP_TAG,
    MAX_DEPTH,
    MAX_NODES,
    MERGE_TAG,
    PLAIN_SCALAR_TAGS,
    SEQ_TAG,
    SpecTooLarge,
    compose,
)

MAX_BYTES = 1_000_000  # a real spec is a few kB; a megabyte is already absurd

# Documents outside a spec that its errors may point into (the library's block files), by a key that
# starts with "@": a problem whose path starts with that key is placed in that document.
EXTERNAL_DOCUMENTS: dict[str, Document] = {}


@dataclass(frozen=True)
class Document:
    """Parsed spec data and where each value sits in the text it came from."""

    data: object
    file: str | None = None
    text: str = ""
    marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)  # value: (line, col), 0-based
    key_marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)  # the key's own position
    # Block definitions merged in from imported files: kind -> the file's document (same paths).
    imported: dict[str, Document] = field(default_factory=dict)
    # Where the text writes a string with `${` (in document order), so that resolving visits those
    # values alone; None where not known (data not read from text, or merge keys reordering it).
    expression_paths: tuple[SpecPath, ...] | None = None
    file_order: int = 0  # 0: the spec; an imported file: its place in reading order (Diagnostic.file_order)
    # Every file imported, directly or not (resolved paths): what `export -o` must not replace.
    imported_files: tuple[str, ...] = ()

    def diagnostic(
        self, path: SpecPath, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> Diagnostic:
        """A diagnostic placed at `path`, or at its nearest ancestor that exists in the text."""
        if path and isinstance(path[0], str) and path[0] in EXTERNAL_DOCUMENTS:
            return EXTERNAL_DOCUMENTS[path[0]].diagnostic(path[1:], message, hint, at_key=at_key)
        if len(path) > 1 and path[0] == "blocks" and path[1] in self.imported:
            return self.imported[str(path[1])].diagnostic(path, message, hint, at_key=at_key)
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
        return Diagnostic(tuple(path), message, hint, self.file, line, column, source_line, self.file_order)

    def boolean_word(self, path: SpecPath, value: object) -> str | None:
        """The word (`yes`, `no`, `on`, `off`) that YAML 1.1 read as the boolean `value` at `path`, as the
        text writes it; None for any other value, and for `true` and `false`, which say what they are."""
        mark = self.marks.get(tuple(path)) if isinstance(value, bool) else None
        lines = self.text.splitlines() if mark is not None else []
        word = re.match(r"[A-Za-z]+\b", lines[mark[0]][mark[1]:]) if mark is not None and mark[0] < len(lines) else None
        return word.group(0) if word and word.group(0).lower() not in ("true", "false") else None


class _Builder:
    """Turns a composed YAML node graph into plain data, recording marks and collecting errors."""

    def __init__(self, document_file: str | None, text: str):
        self.file = document_file
        self.text = text
        self.marks: dict[SpecPath, tuple[int, int]] = {}
        self.key_marks: dict[SpecPath, tuple[int, int]] = {}
        self.errors: list[tuple[SpecPath, yaml.Node, str, str | None]] = []
        self.replaced: list[SpecPath] = []  # values an error left out (null, or a merge's keys): see PartlyRead
        self.nodes_seen = 0
        self._scalar_loader = yaml.SafeLoader("")
        self._scalars: dict[tuple[str, str], object] = {}
        self.expression_paths: list[SpecPath] = []
        self.merged = False  # a `<<:` puts merged keys before written ones: paths out of document order

    def build(self, node: yaml.Node, path: SpecPath, depth: int) -> object:
        self.nodes_seen += 1
        if self.nodes_seen > MAX_NODES:
            raise SpecTooLarge(node.start_mark, f"the document expands to more than {MAX_NODES:,} nodes")
        if depth > MAX_DEPTH:
            raise SpecTooLarge(node.start_mark, f"the document nests deeper than {MAX_DEPTH} levels")
        self.marks.setdefault(path, (node.start_mark.line, node.start_mark.column))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != SEQ_TAG:
                return self._bad_tag(node, path)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        value = self._scalar(node, path)
        if value.__class__ is str and "${" in value:  # type: ignore[operator]
            self.expression_paths.append(path)
        return value

    def _mapping(self, node: yaml.MappingNode, path: SpecPath, depth: int) -> object:
        if node.tag != MAP_TAG:
            return self._bad_tag(node, path)
        result: dict[str, object] = {}
        merged: dict[str, object] = {}
        merges = []  # built after the keys written here, so that a path's mark is its own value's
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults` shares settings between stages
                merges.append(value_node)
                continue
            key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                found = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
                self.errors.append((path, key_node, f"expected a name as key, found {found!s}",
                                    "keys are names such as `width`; quote a key to make it a string"))
                continue
            if key in result:
                first = self.key_marks[(*path, key)][0] + 1
                self.errors.append(
                    ((*path, key), key_node, f"duplicate key `{key}` (first given on line {first})",
                     "remove one of the two: YAML would silently keep only the last"))
                continue
            self.key_marks[(*path, key)] = (key_node.start_mark.line, key_node.start_mark.column)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        if merges:
            self.merged = True
            written = {key: self.key_marks[(*path, key)] for key in result}
            for value_node in merges:
                merged.update(self._merge_source(value_node, path, depth))
            self.key_marks.update({(*path, key): mark for key, mark in written.items()})
        return {**merged, **result}

    def _merge_source(self, node: yaml.Node, path: SpecPath, depth: int) -> dict[str, object]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, object] = {}
        for source in sources:
            value = self.build(source, path, depth + 1)
            if isinstance(value, dict):
                merged = {**value, **merged}  # earlier sources win, as in the YAML merge-key spec
            else:
                self.replaced.append(path)
                self.errors.append((path, source, ("expected a mapping after `<<:`, found "
                                    f"{'a list' if isinstance(value, list) else repr(value)}"),
                                    "merge an anchored mapping: `<<: *defaults`"))
        return merged

    def _scalar(self, node: yaml.Node, path: SpecPath) -> object:
        if node.tag not in PLAIN_SCALAR_TAGS:
            return self._bad_tag(node, path)
        key = (node.tag, node.value)  # a spec repeats its scalars (`conv`, `3`): construct each once
        if key not in self._scalars:
            try:
                self._scalars[key] = self._scalar_loader.construct_object(node)
            except ValueError:  # Python reads at most 4,300 digits of an integer (sys.get_int_max_str_digits)
                self.replaced.append(path)
                self.errors.append((path, node, f"the number is too long: {len(node.value):,} characters",
                                    "write a smaller number: widths are at most 65536, repeats at most 1000"))
                return None
        value = self._scalars[key]
        if isinstance(value, float) and not math.isfinite(value):
            self.replaced.append(path)
            self.errors.append((path, node, f"expected a finite number, found `{node.value}`", None))
            return None
        return value

    def _bad_tag(self, node: yaml.Node, path: SpecPath) -> None:
        self.replaced.append(path)
        self.errors.append(
            (path, node, f"YAML tag `{node.tag}` is not allowed in a spec",
             "a spec is plain data: use maps, lists, strings and numbers only"))
        return


def _error_at(file: str | None, text: str, line: int, column: int, message: str,
              hint: str | None = None, path: SpecPath = ()) -> SpecError:
    document = Document(None, file, text, {path: (line, column)})
    return SpecError([document.diagnostic(path, message, hint)])


def read_source(source: str | Path) -> tuple[str, str | None]:
    """(text, file name) from a path or from YAML text itself (text has a newline, or a `:` and names no
    file: `runs/10:30/spec.yaml` is a path)."""
    if not isinstance(source, (str, Path)):
        raise TypeError(f"expected a spec's path (str or pathlib.Path) or its YAML text (str), found "
                        f"{type(source).__name__}" + (": decode bytes first" if isinstance(source, bytes) else ""))
    if isinstance(source, Path) or ("\n" not in source and (":" not in source or _names_a_file(source))):
        path = Path(source)
        try:
            # Read at most one byte past the limit: a size from stat() cannot be trusted (a FIFO,
            # /dev/zero or a growing file reports 0 and never ends).
            with path.open("rb") as stream:
                raw = stream.read(MAX_BYTES + 1)
                reported = path.stat().st_size
        except OSError as error:
            raise SpecError([Diagnostic((), f"cannot read spec file: {error.strerror}",
                                        "check the path", str(path))]) from None
        if len(raw) > MAX_BYTES:
            raise _too_large(str(path), reported if reported > MAX_BYTES else None)
        try:
            return raw.decode("utf-8"), str(path)
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start)
            column = error.start - (raw.rfind(b"\n", 0, error.start) + 1)
            raise _error_at(str(path), raw.decode("utf-8", errors="replace"), line, column,
                            f"expected UTF-8 text, found the byte 0x{raw[error.start]:02x} "
                            f"(byte offset {error.start}), which is not valid UTF-8",
                            "save the file as UTF-8") from None
    return source, None


def _names_a_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, a NUL character: YAML text, not a file's name
        return False


def _too_large(file: str | None, size: int | None) -> SpecError:
    found = f"{size:,}" if size is not None else f"more than {MAX_BYTES:,} (and no size on file)"
    return SpecError([Diagnostic((), f"expected a spec of at most {MAX_BYTES:,} bytes, found {found}",
                                 "a spec is a few kB: is this the right file?", file, 1, 1)])


def _position(text: str, index: int) -> tuple[int, int]:
    """0-based (line, column) of a character index."""
    return text.count("\n", 0, index), index - (text.rfind("\n", 0, index) + 1)


def _yaml_problem(error: yaml.MarkedYAMLError, found: str | None) -> tuple[str, str]:
    """PyYAML's message, reworded where it is cryptic, and what to do about it. `found` is the text
    from the error's mark to the end of its line (libyaml, unlike PyYAML, does not quote it)."""
    problem = error.problem or "invalid YAML"
    if problem == "found character that cannot start any token" and found:
        problem = f"found character {found[0]!r} that cannot start any token"
    if "another document" in problem:
        return ("expected one document, found a second one (`---`)",
                "a spec file holds one network: remove the `---` and what follows")
    if "undefined alias" in problem:
        alias = re.match(r"\*([^\s,\[\]{}]+)", found or "")  # libyaml does not name it
        if problem == "found undefined alias" and alias:
            problem = f"found undefined alias {alias.group(1)!r}"
        return problem, "define the anchor (`&name`) before its first use (`*name`)"
    if "'\\t'" in problem:  # the character quoted: '\t'
        return problem, "indent with spaces: YAML does not allow tabs there"
    return problem, "check the indentation and the `key: value` syntax"


def _text_at(text: str, line: int, column: int) -> str | None:
    """The text from (line, column) to the end of that line; None if there is none."""
    lines = text.split("\n")
    if line >= len(lines):
        return None
    return lines[line][column:] or None


def load_document(source: str | Path) -> Document:
    """Parse a spec file (or YAML text) into a `Document`; raise `SpecError` listing every problem."""
    text, file = read_source(source)
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise _too_large(file, len(text.encode("utf-8", errors="replace")))
    too_big_hint = "a spec should be a few hundred lines, nest a few levels and use aliases sparingly"
    try:
        root = compose(text)
    except SpecTooLarge as error:
        raise _error_at(file, text, error.mark.line, error.mark.column, f"spec too large: {error}",
                        too_big_hint) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line, mark.column) if mark else (0, 0)
        problem, hint = _yaml_problem(error, _text_at(text, line, column))
        raise _error_at(file, text, line, column, f"invalid YAML: {problem}", hint) from None
    except yaml.reader.ReaderError as error:  # a control character or other unprintable one
        # PyYAML counts characters; libyaml (encoding '?') counts bytes of UTF-8.
        index = (len(text.encode("utf-8")[:error.position].decode("utf-8", errors="ignore"))
                 if error.encoding == "?" else error.position)
        line, column = _position(text, index)
        raise _error_at(file, text, line, column,
                        f"invalid YAML: expected printable text, found the character U+{error.character:04X}",
                        "remove the character (YAML allows tabs, newlines and printable characters)") from None
    except yaml.YAMLError as error:
        raise SpecError([Diagnostic((), f"invalid YAML: {error}", None, file)]) from None
    except RecursionError:  # a guard only: _PythonSpecLoader stops at MAX_DEPTH long before this
        raise SpecError([Diagnostic((), "spec too large: it nests too deeply", too_big_hint, file)]) from None
    if root is None:
        raise _error_at(file, text, 0, 0, "the spec is empty: expected a mapping with `name`, `input`, "
                        "`stem`, `stages` and `head`", "start from a file in specs/")
    builder = _Builder(file, text)
    try:
        data = builder.build(root, (), 0)
    except SpecTooLarge as error:
        raise _error_at(file, text, error.mark.line, error.mark.column, f"spec too large: {error}",
                        too_big_hint) from None
    document = Document(data, file, text, builder.marks, builder.key_marks,
                        expression_paths=None if builder.merged else tuple(builder.expression_paths))
    if builder.errors:
        raise PartlyRead([
            Document(None, file, text, {path: (node.start_mark.line, node.start_mark.column)})
            .diagnostic(path, message, hint)
            for path, node, message, hint in builder.errors
        ], document, tuple(builder.replaced))
    return document


class PartlyRead(SpecError):
    """Mistakes in the text itself (a duplicate key, a tag, NaN), with the document built without them
    (the first of two keys kept, the value null): `archspec.load` validates the rest, so that every
    error comes at once. `replaced` holds the paths whose value an error left out: errors there echo it."""

    def __init__(self, errors: list[Diagnostic], document: Document, replaced: tuple[SpecPath, ...]):
        super().__init__(errors)
        self.document, self.replaced = document, replaced


class _SpecDumper(yaml.SafeDumper):
    """PyYAML's safe dumper with two fixes, so that what it writes loads back as the same data:
    - it quotes a string that the loader would read as a number, such as a name `1e5` (PyYAML's
      dumper knows only YAML 1.1's floats and would write it bare);
    - it writes a string with a Unicode line break (U+0085, U+2028, U+2029) double-quoted, where the
      break is escaped: PyYAML writes it into a single-quoted string, where it reads back as a space."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if any(character in data for character in "\x85\u2028\u2029"):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return super().represent_str(data)


_SpecDumper.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789."))
_SpecDumper.add_representer(str, _SpecDumper.represent_str)


SCHEMA_COMMENT = "# yaml-language-server: $schema={}\n"
DUMP_WIDTH = 110  # PyYAML's line width for `dump`: past it, flow collections and long strings wrap


def dump(data: object, *, schema: str | None = None) -> str:
    """YAML text for plain spec data, such that `load_document(dump(data)).data == data`.

    `data` is what `Spec.model_dump(mode="json")` or a spec document gives: maps, lists (or tuples),
    strings, numbers, booleans and None. Layers and other small maps come out in flow style, one per
    line, like the shipped specs. With `schema` (a path or URL to archspec.schema.json), the text
    starts with the comment that gives editors completion and checking.
    """
    text = yaml.dump(_plain(data), Dumper=_SpecDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=None, width=DUMP_WIDTH)
    return (SCHEMA_COMMENT.format(schema) if schema else "") + text


def _plain(value: object) -> object:
    if isinstance(value, dict):  # the kind first, as people write it: {layer: maxpool, kernel: 3}
        first = [key for key in ("layer", "block") if key in value]
        return {key: _plain(value[key]) for key in [*first, *(k for k in value if k not in first)]}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
