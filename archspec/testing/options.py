"""The knobs of `valid_specs`, `invalid_specs` and `invalid_definitions`, checked once and held as
`Options` (an InvalidArgument names the knob that cannot be honoured)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from archspec.blocks import BLOCKS
from archspec.blocks.base import BlockStage
from archspec.layers import MODULE_NAME_PATTERN
from archspec.shapes import MAX_COUNT
from archspec.spec import Spec
from archspec.testing.defined import defined_blocks
from archspec.testing.kinds import BLOCK_STRATEGIES, SHORTCUTS
from archspec.testing.library import library_block_kinds

HEADS = ("global", "adaptive", "fixed_pool", "flatten", "none")


@dataclass(frozen=True)
class Options:
    max_stages: int
    max_repeats: int
    max_width: int
    block_kinds: tuple[str, ...]  # kinds with a strategy in BLOCK_STRATEGIES (built in, or registered)
    shortcuts: tuple[str, ...]
    input_sizes: st.SearchStrategy[int]
    channels: st.SearchStrategy[int]
    heads: tuple[str, ...]
    square: bool
    list_stages: bool
    names: st.SearchStrategy[str] | None  # module names for `name:` (None: none written)
    spec_names: st.SearchStrategy[str]
    descriptions: st.SearchStrategy[str]
    user_blocks: st.SearchStrategy[dict] | None = None  # a `blocks:` section to draw (defined_blocks)
    library_kinds: tuple[str, ...] = ()  # kinds of the standard library (archspec/library) to draw


_IDENTIFIER = re.compile(MODULE_NAME_PATTERN)  # what a `name:` may be: a name, dotted to nest (`conv1.0`)


def _spec_constraint(field: str, constraint: str) -> Any:
    """A constraint of a Spec field as the validator holds it, so that the strategies draw everything
    it accepts and nothing else: the name's pattern, the description's max_length."""
    return next(getattr(item, constraint) for item in Spec.model_fields[field].metadata
                if getattr(item, constraint, None) is not None)


def options(max_stages: int, max_repeats: int, max_width: int, block_kinds: Sequence[str] | None,
             shortcuts: Sequence[str], input_sizes: st.SearchStrategy[int] | None,
             channels: st.SearchStrategy[int] | None, heads: Sequence[str], square: bool,
             list_stages: bool, names: Sequence[str] | st.SearchStrategy[str] | None = None,
             spec_names: st.SearchStrategy[str] | None = None,
             descriptions: st.SearchStrategy[str] | None = None,
             user_blocks: bool | st.SearchStrategy[dict] = False) -> Options:
    library = library_block_kinds()
    chosen = tuple([*BLOCKS.names(), *library] if block_kinds is None else block_kinds)
    kinds = tuple(kind for kind in chosen if kind not in library or kind in BLOCKS)
    missing = [kind for kind in kinds if kind not in BLOCK_STRATEGIES]
    if missing:
        raise InvalidArgument(f"no strategy for block kind(s) {missing}: add one with "
                              "archspec.testing.register_block_strategy")
    unknown = [kind for kind in kinds if kind not in BLOCKS]
    if unknown or not chosen:
        raise InvalidArgument(f"block_kinds must name registered or library kinds ({BLOCKS.names()}, "
                              f"{list(library)}); found {unknown}")
    if not shortcuts or not set(shortcuts) <= set(SHORTCUTS):
        raise InvalidArgument(f"shortcuts must be a non-empty subset of {SHORTCUTS}; found {shortcuts}")
    if not heads or not set(heads) <= set(HEADS):
        raise InvalidArgument(f"heads must be a non-empty subset of {HEADS}; found {heads}")
    for name, value in (("max_stages", max_stages), ("max_repeats", max_repeats), ("max_width", max_width)):
        if not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be a positive integer; found {value!r}")
    most_repeats = next(item.le for item in BlockStage.model_fields["repeats"].metadata
                        if getattr(item, "le", None) is not None)
    if max_width > MAX_COUNT:  # else a drawn width is invalid
        raise InvalidArgument(f"max_width must be at most {MAX_COUNT:,}, the largest width a spec may write; "
                              f"found {max_width:,}")
    if max_repeats > most_repeats:  # else a drawn stage is invalid: not what `valid_specs` promises
        raise InvalidArgument(f"max_repeats must be at most {most_repeats:,}, the largest `repeats` a spec "
                              f"may write; found {max_repeats:,}")
    if spec_names is None:
        spec_names = st.from_regex(_spec_constraint("name", "pattern"), fullmatch=True)
    if descriptions is None:  # any text: control characters, NUL, line breaks; a lone surrogate is not text
        descriptions = st.text(st.characters(exclude_categories=["Cs"]),
                               max_size=_spec_constraint("description", "max_length")
                               ).filter(lambda text: "${" not in text)  # `${` starts an expression
    return Options(max_stages, max_repeats, max_width, kinds, tuple(shortcuts),
                    input_sizes if input_sizes is not None else st.integers(4, 32),
                    channels if channels is not None else st.integers(1, 3), tuple(heads), square,
                    list_stages, _names(names), spec_names, descriptions,
                    _user_blocks(user_blocks), tuple(kind for kind in chosen if kind not in kinds))


def _user_blocks(user_blocks: bool | st.SearchStrategy[dict]) -> st.SearchStrategy[dict] | None:
    if isinstance(user_blocks, st.SearchStrategy):
        return user_blocks
    if not isinstance(user_blocks, bool):
        raise InvalidArgument(f"user_blocks must be true, false or a strategy from defined_blocks(); found "
                              f"{user_blocks!r}")
    return defined_blocks() if user_blocks else None


def _names(names: Sequence[str] | st.SearchStrategy[str] | None) -> st.SearchStrategy[str] | None:
    if names is None or isinstance(names, st.SearchStrategy):
        return names.filter(_IDENTIFIER.match) if names is not None else None
    invalid = [name for name in names if not isinstance(name, str) or not _IDENTIFIER.match(name)]
    if invalid or isinstance(names, str) or not names:
        raise InvalidArgument(f"names must be a non-empty list of module names (letters, digits and `_`, "
                              f"not starting with a digit; dotted to nest: conv1.0); found {invalid or names!r}")
    return st.sampled_from(tuple(names))
