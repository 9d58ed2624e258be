"""`--format svg`: the diagram (diagram.py) drawn top to bottom, without Graphviz.

One column of boxes: the input, the stem, each stage in a shaded panel, the head, the output. Edges
carry the shape that flows along them, on their left; a residual block's shortcut runs down its right
side into a "+" below it, drawn by kind (identity: thin grey; projection: solid orange, with its
layers; zero-pad: dashed). Text is monospace, so that box widths can be computed without a font.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from archspec.export.diagram import Box, Diagram
from archspec.shapes import show

CHAR = 7.3  # advance of a 12 px monospace character (DejaVu Sans Mono: 0.602 em)
LINE = 16  # line height of box text
GAP = 44  # vertical space between boxes: edge, shape label, shortcut ends
PANEL_PAD = 12  # panel border around its boxes
PANEL_BOTTOM = 28  # below the last box: room for a shortcut's "+"
PANEL_LABEL = 24  # room for a panel's label above its first box
SHAPES_WIDTH = 120  # the margin left of the boxes, for shape labels
SKIP = 22  # how far right of a box its shortcut runs
FONTS = "DejaVu Sans Mono, Menlo, Consolas, monospace"

_SHORTCUT_STYLE = {
    "identity": 'stroke="#8a94a6" stroke-width="1.5"',
    "projection": 'stroke="#dd6b20" stroke-width="2"',
    "zero-pad": 'stroke="#805ad5" stroke-width="1.5" stroke-dasharray="5 3"',
}
_PANEL_FILL = ("#eef3fb", "#edf7f0")


def svg(model: Diagram) -> str:
    boxes = [box for group in model.groups for box in group.boxes]
    texts = [box.title for box in boxes] + [line for box in boxes for line in box.lines]
    box_width = max(260, round(max(map(len, texts), default=0) * CHAR + 24))
    notes = [len(_shortcut_label(box)[0]) for box in boxes if box.shortcut in _SHORTCUT_STYLE]
    notes += [len(_shortcut_label(box)[1]) for box in boxes if box.shortcut in _SHORTCUT_STYLE]
    left = SHAPES_WIDTH
    center = left + box_width / 2
    width = round(left + box_width + SKIP + 16 + max(notes, default=0) * CHAR + 24)
    width = max(width, round(max(len(model.subtitle), len(model.title)) * CHAR + 40))
    out: list[str] = []  # the drawing, in painting order
    later: list[str] = []  # what goes on top of edges: boxes, "+" marks, labels
    y = 70
    out.append(_text(20, 28, model.title, 'font-size="16" font-weight="bold"'))
    out.append(_text(20, 48, model.subtitle, 'fill="#4a5568"'))
    later.append(_pill(center, y, f"input {show(model.input_shape)}"))
    previous_bottom, previous_shape = y + 24, model.input_shape
    y += 24 + GAP
    for number, group in enumerate(model.groups):
        panel_top = y
        y += PANEL_LABEL + PANEL_PAD
        panel: list[str] = []
        for index, box in enumerate(group.boxes):
            if index:
                y += GAP
            height = _box_height(box)
            out.append(_edge(center, previous_bottom, y, show(previous_shape)))
            later.extend(_box(box, left, y, box_width, height))
            if box.shortcut in _SHORTCUT_STYLE:
                out.append(_skip(box, center, left + box_width, y, y + height))
                later.extend(_skip_marks(box, center, left + box_width, y, y + height))
            previous_bottom, previous_shape = y + height, box.out_shape
            y += height
        y += PANEL_BOTTOM
        fill = _PANEL_FILL[number % 2] if group.is_stage else "#f4f4f5"
        panel_width = box_width + 2 * PANEL_PAD + SKIP + 8
        panel.append(f'<rect x="{left - PANEL_PAD}" y="{panel_top}" width="{panel_width}" '
                     f'height="{y - panel_top}" rx="10" fill="{fill}" stroke="#c8d0dc"/>')
        panel.append(_text(left - PANEL_PAD + 10, panel_top + 17, group.name,
                           'font-weight="bold" fill="#2d3748"'))
        out[:0] = panel  # panels go beneath everything
        y += GAP
    out.append(_edge(center, previous_bottom, y, show(previous_shape)))
    later.append(_pill(center, y, "output"))
    height = y + 24 + 20
    header = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" font-family="{FONTS}" font-size="12">')
    arrow = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
             'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
             '<path d="M 0 0 L 10 5 L 0 10 z" fill="#4a5568"/></marker></defs>')
    return "\n".join([header, f"<title>{escape(model.title)}</title>", arrow,
                      f'<rect width="{width}" height="{height}" fill="#ffffff"/>', *out, *later, "</svg>", ""])


def _box_height(box: Box) -> int:
    return 12 + LINE * (1 + len(box.lines) + bool(box.shortcut == "none"))


def _box(box: Box, x: float, y: float, width: float, height: float) -> list[str]:
    title = box.title.split("  ", 1)
    heading = (f'<text x="{x + 10}" y="{y + 18}" xml:space="preserve" fill="#1a202c">'
               f'<tspan font-weight="bold">{escape(title[0])}</tspan>'
               f'{escape("  " + title[1]) if len(title) > 1 else ""}</text>')
    parts = [f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" fill="#ffffff" stroke="#4a5568"/>',
             heading]
    lines = [*box.lines, *(["no shortcut"] if box.shortcut == "none" else [])]
    parts += [_text(x + 10, y + 18 + LINE * (n + 1), line, 'fill="#4a5568"') for n, line in enumerate(lines)]
    return parts


def _edge(x: float, top: float, bottom: float, label: str) -> str:
    middle = (top + bottom) / 2 + 4
    return (f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#4a5568" stroke-width="1.5" '
            f'marker-end="url(#arrow)"/>\n' + _text(x - 10, middle, label, 'text-anchor="end" fill="#2b6cb0"'))


def _skip(box: Box, center: float, right: float, top: float, bottom: float) -> str:
    """The shortcut: from the edge above the box, down its right side, into the "+" below it."""
    start, end, side = top - 14, bottom + 14, right + SKIP - 8
    return (f'<path d="M {center} {start} H {side} V {end} H {center + 8}" fill="none" '
            f'{_SHORTCUT_STYLE[box.shortcut or ""]} marker-end="url(#arrow)"/>')


def _skip_marks(box: Box, center: float, right: float, top: float, bottom: float) -> list[str]:
    end = bottom + 14
    first, second = _shortcut_label(box)
    x, middle = right + SKIP + 6, (top + bottom) / 2
    marks = [f'<circle cx="{center}" cy="{top - 14}" r="2.5" fill="#4a5568"/>',
             f'<circle cx="{center}" cy="{end}" r="7" fill="#ffffff" stroke="#4a5568" stroke-width="1.5"/>',
             _plus(center, end),
             _text(x, middle - (2 if second else -4), first, 'fill="#2d3748"')]
    if second:
        marks.append(_text(x, middle + 14, second, 'fill="#718096"'))
    return marks


def _plus(x: float, y: float) -> str:
    return f'<path d="M {x - 4} {y} H {x + 4} M {x} {y - 4} V {y + 4}" stroke="#1a202c" stroke-width="1.5"/>'


def _shortcut_label(box: Box) -> tuple[str, str]:
    return f"{box.shortcut} shortcut", box.shortcut_detail


def _pill(center: float, y: float, label: str) -> str:
    width = len(label) * CHAR + 28
    return (f'<rect x="{center - width / 2}" y="{y}" width="{width}" height="24" rx="12" '
            f'fill="#2d3748"/>\n' + _text(center, y + 16, label, 'text-anchor="middle" fill="#ffffff"'))


def _text(x: float, y: float, text: str, attributes: str = "") -> str:
    return f'<text x="{round(x, 1)}" y="{round(y, 1)}" {attributes}>{escape(text)}</text>'
