"""`imports: [blocks/attention.yaml]`: block definitions read from other files.

Part of the load pass. Each import is a path relative to the folder of the file that names it, read
with the same safe loader and limits as a spec; the file holds `blocks:` (definitions, as in a spec)
and may import further files. The definitions are merged into the spec's `blocks:` (the spec's own
first in error listings, but a kind defined twice is an error wherever the two are), and the spec's
document remembers which file each came from, so later errors inside a definition are placed in that
file. Cycles, missing or unreadable files, and more than MAX_FILES files are located errors.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from archspec.errors import Diagnostic, SpecError, SpecPath
from archspec.loader import Document, load_document

IMPORTS = "imports"
MAX_FILES = 64  # files one spec may import, directly or not
MAX_DEPTH = 8  # a file importing a file importing ...
YAML_SUFFIXES = (".yaml", ".yml")  # what an imported definitions file may be named (its target too)


class _Importer:
    def __init__(self) -> None:
        self.errors: list[Diagnostic] = []
        self.blocks: dict[str, object] = {}
        self.origins: dict[str, Document] = {}  # kind -> the document it is defined in
        self.files = 0

    def error(self, document: Document, path: SpecPath, message: str, hint: str | None = None) -> None:
        self.errors.append(document.diagnostic(path, message, hint))

    def read(self, document: Document, chain: tuple[Path, ...]) -> None:
        """Imports what `document` names (its own definitions are merged by the caller)."""
        data = document.data
        names = data.get(IMPORTS) if isinstance(data, dict) else None
        if names is None:
            return
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            self.error(document, (IMPORTS,), "expected a list of file paths, e.g. `imports: [blocks/se.yaml]`")
            return
        folder = Path(document.file).parent if document.file else Path.cwd()
        for index, name in enumerate(names):
            where = (IMPORTS, index)
            written = folder / name  # as the spec's own path is given: errors name the file so
            path = written.resolve()
            if path in chain:
                cycle = " -> ".join(p.name for p in (*chain[chain.index(path):], path))
                self.error(document, where, f"`{name}` imports itself: {cycle}", "remove one of these imports")
                continue
            if len(chain) > MAX_DEPTH:
                self.error(document, where, f"imports nest more than {MAX_DEPTH} files deep",
                           "import the files from the spec directly")
                continue
            self.files += 1
            if self.files > MAX_FILES:
                self.error(document, where, f"expected at most {MAX_FILES} imported files",
                           "merge some of the definitions into fewer files")
                return
            # A definitions file is YAML: a spec from elsewhere must not make archspec read (and quote
            # in its errors) whatever file it names, such as /proc/self/environ or a key file.
            if path.suffix.lower() not in YAML_SUFFIXES:
                self.error(document, where, f"cannot import `{name}`: expected a YAML file (.yaml or .yml), "
                           f"found {path.name!r}", "block definitions live in YAML files, e.g. "
                           "`imports: [blocks/se.yaml]`")
                continue
            if not path.is_file():
                what = "does not exist" if not path.exists() else "is not a regular file"
                self.error(document, where, f"cannot import `{name}`: {path} {what}",
                           f"paths are relative to the folder of {document.file or 'the spec'}")
                continue
            try:
                imported = replace(load_document(written), file_order=self.files)
            except SpecError as error:
                self.errors.extend(replace(each, file_order=self.files) for each in error.errors)
                continue
            self.file(imported, (*chain, path))

    def file(self, document: Document, chain: tuple[Path, ...]) -> None:
        data = document.data
        extra = sorted(set(data) - {"blocks", IMPORTS}) if isinstance(data, dict) else None
        if extra is None or extra:
            self.error(document, (extra[0],) if extra else (),
                       "an imported file holds only `blocks:` (and `imports:`), found "
                       + (f"`{extra[0]}`" if extra else "no mapping"),
                       "move the network itself into a spec that imports this file")
            return
        self.read(document, chain)
        self.merge(document, data.get("blocks", {}))

    def merge(self, document: Document, blocks: object) -> None:
        if not isinstance(blocks, dict):
            self.error(document, ("blocks",), "expected a mapping of block kinds to definitions")
            return
        for kind, definition in blocks.items():
            if kind in self.blocks:
                first = self.origins[kind].file or "the spec"
                self.error(document, ("blocks", kind), f"block kind `{kind}` is defined twice (also in {first})",
                           "rename one of them")
                continue
            self.blocks[kind] = definition
            self.origins[kind] = document


def with_imports(document: Document) -> Document:
    """The spec's document with the definitions of its imports merged into its `blocks:`; raises
    SpecError naming every problem (each in the file it is in)."""
    data = document.data
    if not isinstance(data, dict) or IMPORTS not in data:
        return document
    importer = _Importer()
    own = Path(document.file).resolve() if document.file else None
    importer.read(document, (own,) if own else ())
    own_blocks = data.get("blocks", {})
    if isinstance(own_blocks, dict):
        importer.merge(document, own_blocks)
    if importer.errors:
        raise SpecError(importer.errors)
    merged = {key: value for key, value in data.items() if key != IMPORTS}
    merged["blocks"] = importer.blocks
    imported = {kind: source for kind, source in importer.origins.items() if source is not document}
    return replace(document, data=merged, imported=imported)
