"""Compose pass: YAML text -> PyYAML's node graph, safely and within limits (archspec/loader.py builds
the data from it).

Only the plain scalar types are resolved implicitly, the nesting depth is bounded while composing (a
guard in Python, also in front of libyaml's C parser, which has none of its own), and a document's
size with its aliases expanded is measured before anything is copied ("billion laughs"). With
loader.py, the only module that touches YAML.
"""

from __future__ import annotations

import re
from typing import ClassVar

import yaml

MAX_NODES = 100_000  # after alias expansion: stops "billion laughs" long before memory is at risk
MAX_DEPTH = 64

# The only types a spec is made of: the resolver gives no other implicitly, and the loader's builder
# refuses any other tag written explicitly.
PLAIN_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"


class SpecTooLarge(Exception):
    """A document past one of the limits; `mark` is where in the text (the loader reports it there)."""

    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark = mark


class _TooDeep(SpecTooLarge):
    """The document nests deeper than MAX_DEPTH: raised by the guarded composer."""


class _PlainResolver(yaml.resolver.Resolver):
    """Resolves only the plain scalar types implicitly: an unquoted `2024-01-01` stays a string instead
    of becoming a timestamp that a spec then has to refuse."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in PLAIN_SCALAR_TAGS | {MERGE_TAG}]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


# YAML 1.1 (PyYAML) reads `1e-5` as a string because it wants a dot in a float; YAML 1.2 and every
# other tool read it as a number, and users write BatchNorm epsilons that way.
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_PlainResolver.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789."))


class _GuardedComposer(yaml.composer.Composer):
    """PyYAML's composer, which refuses to nest deeper than MAX_DEPTH while composing: it recurses
    once per level, so `[[[[...` a few thousand deep would otherwise end in a RecursionError."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark, f"the document nests deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _PythonSpecLoader(_GuardedComposer, _PlainResolver, yaml.SafeLoader):
    """PyYAML's pure-Python scanner and parser, for a PyYAML built without libyaml."""


_LibyamlSpecLoader: type | None = None
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _LibyamlSpecLoader(_GuardedComposer, CParser, yaml.constructor.SafeConstructor,  # type: ignore[no-redef]
                             _PlainResolver):
        """libyaml's scanner and parser, written in C, give the events: loading ResNet-18 takes
        0.4 ms instead of 1.8. Composing stays in the guarded Python composer, which comes first in
        the method order: libyaml's own composer recurses in C without a limit and crashes the
        process (1,000 nested brackets suffice in a thread with a 256 KiB stack)."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            _PlainResolver.__init__(self)


def _compose_with(loader_class: type, text: str) -> yaml.Node | None:
    loader = loader_class(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def compose(text: str) -> yaml.Node | None:
    """The node graph of `text`: events from libyaml where PyYAML has it, else from PyYAML."""
    if _LibyamlSpecLoader is None:
        root = _compose_with(_PythonSpecLoader, text)
    else:
        try:
            root = _compose_with(_LibyamlSpecLoader, text)
        except yaml.MarkedYAMLError as error:
            _raise_if_too_deep_before(text, error)
            raise
        except UnicodeEncodeError:  # a lone surrogate (`--set` bytes that were not UTF-8): libyaml
            root = _compose_with(_PythonSpecLoader, text)  # cannot take it; PyYAML says where it is
    if root is not None and "&" in text and _expanded_size(root) > MAX_NODES:  # no anchor, no alias
        raise SpecTooLarge(root.start_mark, f"the document expands to more than {MAX_NODES:,} nodes "
                           "once its aliases are expanded")
    return root


def _raise_if_too_deep_before(text: str, error: yaml.MarkedYAMLError) -> None:
    """Raises _TooDeep if the text before libyaml's error nests deeper than MAX_DEPTH.

    libyaml scans up to 1024 characters ahead of the events it has given (a `[` may start a key),
    and recent versions refuse to nest deeper than a limit of their own, in their own words: on
    `[[[[...` written on one line, libyaml refuses before the composer's guard sees level 65, and
    the user would read libyaml's message with a hint about indentation. Which parser refused, and
    how it words it, must not matter: the text before the error's place is composed again. Cut
    there, it never reaches the parser's limit, and the end of the text hands the composer every
    event, so the guard sees any level beyond MAX_DEPTH that lies before the error. A text that
    has none keeps the parser's error, whatever it says; the cost is one more parse, in C."""
    mark = error.problem_mark
    if mark is None or _LibyamlSpecLoader is None:
        return
    # libyaml counts characters in `index` and `column`; either gives the place, the earlier wins
    # (a line break inside a quoted string counts as one, hence YAML's own line breaks here).
    starts = [0, *(match.end() for match in _YAML_LINE_BREAK.finditer(text))]
    cut = min(mark.index, starts[mark.line] + mark.column if mark.line < len(starts) else len(text))
    try:
        _compose_with(_LibyamlSpecLoader, text[:max(cut, 0)])
    except yaml.YAMLError:  # _TooDeep goes on to the caller; any other problem: the first error stands
        return


_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded, without expanding any: each
    distinct node is sized once (aliases share node objects), so a "billion laughs" document is
    measured in microseconds and refused before a single copy is made. A node that contains itself
    (`&a [*a]`) expands forever: it counts as too big."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise SpecTooLarge(node.start_mark, "the document refers to itself through an alias (`&a [*a]`)")
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key_node) + size(value) for key_node, value in node.value)
        in_progress.discard(key)
        sizes[key] = total = min(total, MAX_NODES + 1)  # capped: the sums stay small numbers
        return total

    return size(root)
