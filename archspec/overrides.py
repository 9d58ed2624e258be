"""Resolve pass: a loaded document -> the same plain data with overrides applied (`--set PATH=VALUE`,
`archspec.load(path, overrides=...)`), `vars` resolved and every `${...}` replaced by its value.

It runs between the load and validate passes, on plain data, and only when a spec has something to
resolve: a spec without overrides, `vars` or `${` goes straight to validation, as before. Every value
keeps its place in the file, so an error in an expression is reported at its string; an error in an
override's own value names the override; any other error in a spec that had overrides is reported at
its place in the file, followed by "(after --set ...)".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from archspec._resolving import VARS, needs_resolving  # noqa: F401  (needs_resolving: still importable from here)
from archspec.errors import Diagnostic, SpecError, SpecPath, closest_name, did_you_mean, outside
from archspec.expr import FAILED, ExprError, UsesFailedName, has_expression, interpolate, references
from archspec.loader import Document
from archspec.override_values import Override, cannot_step, parse_path, plain_copy, short_repr, to_overrides
from archspec.scale import SCALE_OVERRIDE, SCALES, choose
from archspec.spec import Spec
from archspec.validate import _value_at, validate

BLOCKS = "blocks"
MAX_VAR_CHAIN = 100  # a var using a var using a var ...: resolved recursively, so bounded


@dataclass(frozen=True)
class ResolvedDocument(Document):
    """A document after this pass: its diagnostics say which override or expression a value came from."""

    overridden: tuple[tuple[SpecPath, str], ...] = ()  # (path, label), in the order applied
    expressions: dict[SpecPath, str] = field(default_factory=dict)  # path -> the string it came from
    note: str = ""  # " (after --set a, --set b)"
    name_overrides: bool = True  # validation: an error inside an overridden value names the override
    unscaled: dict[SpecPath, object] = field(default_factory=dict)  # an expression's value that --scale changed

    def diagnostic(self, path: SpecPath, message: str, hint: str | None = None, *,
                   at_key: bool = False) -> Diagnostic:
        path = tuple(path)
        if self.name_overrides:
            label = next((label for where, label in reversed(self.overridden) if path[:len(where)] == where), None)
            if label is not None:  # the value is not in the file: the override is where it is written
                return Diagnostic(path, f"{label}: {message}", self._override_key_hint(path, message) or hint,
                                  self.file)
        expression = self.expressions.get(path)
        if expression is not None:
            value = _value_at(self.data, path)
            if isinstance(value, float) and "an integer" in message:  # not "write 32 without the point"
                hint = f"`{expression}` gives {value!r}: `//` divides to a whole number, round(x) rounds"
            elif hint is None and path in self.unscaled:  # the expression did not give the scaled value
                hint = (f"`{expression}` gives {short_repr(self.unscaled[path])}, which the scale makes "
                        f"{short_repr(value)}")
            elif hint is None and value != expression:  # (a failed expression is left as written)
                hint = f"`{expression}` gives {value!r}"
        placed = super().diagnostic(path, message, hint, at_key=at_key)
        return replace(placed, message=placed.message + self.note) if self.note else placed

    def _override_key_hint(self, path: SpecPath, message: str) -> str | None:
        """For `--set head[-1].widht=3`: the key the spec has there that it misspells. (Validation does not
        suggest a key the mapping has, for a file's own typo; an override means to change that key.)"""
        mapping = _value_at(self.data, path[:-1]) if message.startswith("unknown key") else None
        keys = [key for key in mapping if key != path[-1]] if isinstance(mapping, dict) else []
        close = closest_name(path[-1], keys)
        return f"did you mean `{close}`, which the spec has there?" if close else None

    def boolean_word(self, path: SpecPath, value: object) -> str | None:
        """None where an override or an expression gave the value: the file's text did not write it."""
        overridden = any(tuple(path)[:len(where)] == where for where, _ in self.overridden)
        return None if overridden or tuple(path) in self.expressions else super().boolean_word(path, value)


def resolve(document: Document) -> tuple[ResolvedDocument, list[Diagnostic], list[SpecPath]]:
    """The resolve pass alone (no overrides, no validation): the resolved document, the errors found,
    and the paths they were found at (validation's errors there only repeat them)."""
    pass_ = _Resolver(document, ())
    return pass_.run(), pass_.errors, pass_.failed


def resolved_spec(document: Document, overrides: tuple[Override, ...]) -> Spec:
    """The validated `Spec` of `document` after `overrides`; raises SpecError with every problem."""
    pass_ = _Resolver(document, overrides)
    resolved = pass_.run()
    try:
        spec = validate(resolved)
    except SpecError as error:
        raise SpecError([*pass_.errors, *outside(error.errors, pass_.failed)]) from None
    if pass_.errors:
        raise SpecError(pass_.errors)
    spec._document = replace(resolved, name_overrides=False)  # the network's errors: at the file
    spec._origin = (document, overrides)
    return spec


def derive(spec: Spec, overrides: Mapping[str, object] | Sequence[str], kind: str = "override") -> Spec:
    """`spec` with more overrides, re-resolved from its source and validated (see Spec.with_overrides)."""
    origin = spec._origin
    if origin is None:
        origin = (spec.document or Document(spec.model_dump(mode="json")), ())
    document, earlier = origin
    return resolved_spec(document, (*earlier, *to_overrides(overrides, kind)))


class _Resolver:
    def __init__(self, document: Document, overrides: tuple[Override, ...]):
        self.source = document
        self.overrides = overrides
        # Copied where it changes (the walk builds new containers; an override copies its path): the
        # source document stays as loaded, for `with_overrides`, at little cost for a big spec.
        self.data: Any = dict(document.data) if isinstance(document.data, dict) else document.data
        self.owned = {id(self.data)}
        self.overridden: list[tuple[SpecPath, str]] = []
        self.expressions: dict[SpecPath, str] = {}
        self.errors: list[Diagnostic] = []
        self.failed: list[SpecPath] = []  # paths whose errors are reported here, not by validation
        self.scale: object = None  # the name given to `--scale` (the last one)

    def run(self) -> ResolvedDocument:
        for override in self.overrides:
            self._apply(override)
        labels = [override.label for override in self.overrides]
        source = self.source
        self.document = ResolvedDocument(self.data, source.file, source.text, source.marks, source.key_marks,
                                         source.imported, overridden=tuple(self.overridden),
                                         imported_files=source.imported_files,
                                         expressions=self.expressions,
                                         note=f" (after {', '.join(labels)})" if labels else "")
        overrides_hold_expressions = any("${" in repr(o.value) for o in self.overrides if not o.problem)
        if "${" not in source.text and not overrides_hold_expressions:
            if isinstance(self.data, dict):
                self.data.pop(VARS, None)
            return self._scaled()
        if isinstance(self.data, dict):
            environment = self._variables()
            paths = None if overrides_hold_expressions else self._expression_paths()
            if paths is not None:  # the loader said where the `${` are: visit those values alone
                for path in paths:
                    self._resolve_at(path, environment)
            else:
                for key, value in self.data.items():
                    # A block definition's `${...}` are evaluated where a stage uses it (its fields, `in`).
                    if key not in (VARS, BLOCKS):
                        self.data[key] = self._resolved(value, (key,), environment)
            self.data.pop(VARS, None)
        else:
            self.data = self._resolved(self.data, (), {})
        self.document = replace(self.document, data=self.data)
        return self._scaled()

    def _scaled(self) -> ResolvedDocument:
        """The document without its `scales`, scaled by the one `--scale` names: after overrides and
        expressions, so that it multiplies the values the spec would otherwise have."""
        if not isinstance(self.data, dict) or (SCALES not in self.data and self.scale is None):
            return self.document
        unscaled = self.data
        self.data, errors = choose(self.data, self.scale, self.document)
        self.document = replace(self.document, unscaled={
            path: _value_at(unscaled, path) for path in self.expressions
            if path[0] != SCALES and _value_at(unscaled, path) != _value_at(self.data, path)})
        if errors:  # (a factor whose `${...}` failed is reported once, by the expression)
            self.errors.extend(error for error in errors if error.path not in self.failed)
            self.failed.append((SCALES,))
        return replace(self.document, data=self.data)

    # ---- overrides ----

    def _override_error(self, override: Override, message: str, hint: str | None = None) -> None:
        self.errors.append(Diagnostic((), f"{override.label}: {message}", hint, self.source.file))

    def _apply(self, override: Override) -> None:
        if override.problem:
            return self._override_error(override, *override.problem)
        if override.path == SCALE_OVERRIDE:
            self.scale = override.value
            return None
        parts = parse_path(override.path)
        if parts is None:
            return self._override_error(override, f"expected a path such as `head[-1].width`, "
                                        f"`stages[1].repeats` or a var name, found `{override.path}`")
        if not isinstance(self.data, dict):
            return self._override_error(override, "the spec is not a mapping")
        variables = self.data.get(VARS)
        if len(parts) == 1 and isinstance(variables, dict) and parts[0] in variables:
            parts = [VARS, parts[0]]  # a bare var name sets the var
        elif len(parts) == 1 and parts[0] not in self.data and parts[0] not in (*Spec.model_fields, VARS, SCALES):
            known = [*(variables if isinstance(variables, dict) else ()), *Spec.model_fields, VARS, SCALES]
            return self._override_error(override, f"`{parts[0]}` is neither a var nor a key of the spec",
                                        did_you_mean(parts[0], known) or f"vars and keys: {', '.join(known)}")
        target: Any = self.data
        where: list[str | int] = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            problem = cannot_step(target, part, tuple(where), last)
            if problem is not None:
                return self._override_error(override, *problem)
            step = part + len(target) if isinstance(target, list) and isinstance(part, int) and part < 0 else part
            where.append(step)
            if last:
                target[step] = plain_copy(override.value)
            else:
                target = self._owned_child(target, step)
        self.overridden.append((tuple(where), override.label))
        return None

    def _owned_child(self, parent: Any, key: str | int) -> Any:
        """parent[key], copied first unless this pass made it: the source document is never changed."""
        child = parent[key]
        if isinstance(child, (dict, list)) and id(child) not in self.owned:
            child = parent[key] = child.copy()
            self.owned.add(id(child))
        return child

    # ---- vars and expressions ----

    def _variables(self) -> dict[str, object]:
        variables = self.data.get(VARS, {})
        if not isinstance(variables, dict):
            self._error((VARS,), "expected a mapping of names to values, e.g. `vars: {classes: 1000}`")
            return {}
        values: dict[str, object] = {}
        resolving: list[str] = []

        def resolve(name: str) -> object:
            if name in values:
                return values[name]
            if name in resolving:
                cycle = " -> ".join([*resolving[resolving.index(name):], name])
                self._error((VARS, name), f"`{name}` refers to itself: {cycle}", "give one of them a value")
                values[name] = FAILED
                return FAILED
            raw = variables[name]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self._error((VARS, name), f"expected a var name of letters, digits and `_`, found `{name}`",
                            at_key=True)
                values[name] = FAILED
            elif not isinstance(raw, (int, float, str)):  # bool is an int
                self._error((VARS, name), "expected a number, a string or true/false as a var's value, "
                            f"found {'null' if raw is None else 'a list' if isinstance(raw, list) else 'a mapping'}")
                values[name] = FAILED
            elif isinstance(raw, str) and has_expression(raw) and len(resolving) >= MAX_VAR_CHAIN:
                self._error((VARS, name), f"vars refer to vars more than {MAX_VAR_CHAIN} levels deep",
                            "give some of them values")
                values[name] = FAILED
            elif isinstance(raw, str) and has_expression(raw):
                resolving.append(name)
                for used in references(raw) & variables.keys():
                    resolve(used)
                resolving.pop()
                if name not in values:  # a cycle through it already failed it
                    values[name] = self._expression(raw, (VARS, name), values)
            else:
                values[name] = raw
            return values[name]

        for name in variables:
            resolve(name)
        return values

    def _expression_paths(self) -> list[SpecPath] | None:
        """The paths of the source's `${...}` strings outside `vars` and `blocks`, in document order;
        None where the loader could not say."""
        paths = self.source.expression_paths
        return None if paths is None else [path for path in paths if path[0] not in (VARS, BLOCKS)]

    def _resolve_at(self, path: SpecPath, environment: dict[str, object]) -> None:
        """The expression at `path`, as the full walk would resolve it, copying only the containers on
        its way; nothing where an override has replaced it."""
        value: Any = self.data
        for step in path:
            found = (step in value if isinstance(value, dict) else
                     isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value))
            if not found:
                return
            value = value[step]
        if not (isinstance(value, str) and has_expression(value)):
            return
        self.expressions[path] = value
        result = self._expression(value, path, environment)
        if result is not FAILED:
            target: Any = self.data
            for step in path[:-1]:
                target = self._owned_child(target, step)
            target[path[-1]] = result

    def _resolved(self, value: object, path: SpecPath, environment: dict[str, object]) -> object:
        if isinstance(value, str):
            if not has_expression(value):
                return value
            self.expressions[path] = value
            result = self._expression(value, path, environment)
            return value if result is FAILED else result
        if isinstance(value, dict):
            return {key: self._resolved(item, (*path, key), environment) for key, item in value.items()}
        if isinstance(value, list):
            return [self._resolved(item, (*path, index), environment) for index, item in enumerate(value)]
        return value

    def _expression(self, text: str, path: SpecPath, environment: dict[str, object]) -> object:
        try:
            return interpolate(text, environment)
        except UsesFailedName:
            self.failed.append(path)  # its var's error is reported already
        except ExprError as error:
            self._error(path, error.message, error.hint, string=text, offset=error.offset)
        return FAILED

    def _error(self, path: SpecPath, message: str, hint: str | None = None, *, at_key: bool = False,
               string: str | None = None, offset: int = 0) -> None:
        self.failed.append(path)
        diagnostic = self.document.diagnostic(path, message, hint, at_key=at_key)
        if string is not None and diagnostic.source_line is not None and diagnostic.column is not None:
            diagnostic = replace(diagnostic, column=_column(diagnostic.source_line, diagnostic.column - 1,
                                                           string, offset) + 1)
        self.errors.append(diagnostic)


def _column(line: str, start: int, string: str, offset: int) -> int:
    """The 0-based column of `string[offset]` on `line`, where the string's scalar starts at `start`
    (quoted or plain); `start` itself when the text there is not the string as written (escapes)."""
    for opening in (start + 1, start) if line[start:start + 1] in "\"'" else (start,):
        if line[opening:opening + offset] == string[:offset]:
            return opening + offset
    return start
