"""The exported PDF's attachments list and body maps, drawn with fpdf2 (issue 20, point
5; ADR 0106). Loaded with fpdf2, for a PDF only; called from ``services.export_pdf``
with one line, on the document it is rendering.

A body map is drawn as the five outlines (front, back, left side, right side, head) side
by side, each in a box whose top left is (0, 0) and bottom right (1, 1), the box a mark's
``x`` and ``y`` are fractions of; each mark is a numbered dot coloured by its kind, and a
legend below lists every mark with its view, kind, position and note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from models.attachment import AttachmentListed, BodyMapPublic, BodyView, MarkKind
from services.attachments.exporting import size_text

KIND_COLOURS: dict[MarkKind, tuple[int, int, int]] = {
    MarkKind.bruise: (110, 40, 160),
    MarkKind.cut: (200, 20, 30),
    MarkKind.burn: (230, 120, 0),
    MarkKind.mark: (0, 100, 200),
    MarkKind.other: (80, 80, 80),
}

# The outlines, in each view's unit box (x across, y down). A standing figure seen from
# the front (the back is the same outline); a side view facing right (mirrored for the
# left side); a head from the front.
_FIGURE = [
    (0.45, 0.15), (0.55, 0.15), (0.70, 0.19), (0.75, 0.24), (0.80, 0.49), (0.77, 0.52),
    (0.73, 0.50), (0.67, 0.29), (0.65, 0.50), (0.66, 0.56), (0.62, 0.96), (0.53, 0.97),
    (0.51, 0.58), (0.49, 0.58), (0.47, 0.97), (0.38, 0.96), (0.34, 0.56), (0.35, 0.50),
    (0.33, 0.29), (0.27, 0.50), (0.23, 0.52), (0.20, 0.49), (0.25, 0.24), (0.30, 0.19),
]  # fmt: skip
_SIDE = [
    (0.47, 0.15), (0.53, 0.15), (0.58, 0.20), (0.60, 0.33), (0.58, 0.47), (0.58, 0.55),
    (0.56, 0.94), (0.63, 0.97), (0.46, 0.97), (0.46, 0.94), (0.43, 0.56), (0.40, 0.48),
    (0.42, 0.30), (0.44, 0.20),
]  # fmt: skip
_SIDE_ARM = [(0.51, 0.21), (0.55, 0.36), (0.53, 0.50)]
_VIEW_TITLES = {
    BodyView.front: "Front",
    BodyView.back: "Back",
    BodyView.left: "Left side",
    BodyView.right: "Right side",
    BodyView.head: "Head",
}
BOX_WIDTH, BOX_HEIGHT, GAP = 32.0, 64.0, 4.0


def _at(
    x0: float, y0: float, w: float, h: float, points: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    return [(x0 + x * w, y0 + y * h) for x, y in points]


def _ellipse(
    pdf: FPDF,
    x0: float,
    y0: float,
    w: float,
    h: float,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    style: str = "D",
) -> None:
    pdf.ellipse(x0 + (cx - rx) * w, y0 + (cy - ry) * h, 2 * rx * w, 2 * ry * h, style=style)


def _outline(pdf: FPDF, view: BodyView, x0: float, y0: float, w: float, h: float) -> None:
    pdf.set_draw_color(60, 60, 60)
    pdf.set_line_width(0.3)
    if view in (BodyView.front, BodyView.back):
        _ellipse(pdf, x0, y0, w, h, 0.5, 0.08, 0.075, 0.07)
        pdf.polygon(_at(x0, y0, w, h, _FIGURE))
        if view is BodyView.back:  # the spine, so the back reads as a back
            pdf.set_dash_pattern(dash=0.8, gap=0.8)
            pdf.line(*_at(x0, y0, w, h, [(0.5, 0.17)])[0], *_at(x0, y0, w, h, [(0.5, 0.50)])[0])
            pdf.set_dash_pattern()
        else:  # a face's eyes, so the front reads as a front
            _ellipse(pdf, x0, y0, w, h, 0.47, 0.07, 0.008, 0.005, "F")
            _ellipse(pdf, x0, y0, w, h, 0.53, 0.07, 0.008, 0.005, "F")
    elif view in (BodyView.left, BodyView.right):
        flip = view is BodyView.left  # facing left: the side outline mirrored

        def place(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
            return _at(x0, y0, w, h, [((1 - x) if flip else x, y) for x, y in points])

        _ellipse(pdf, x0, y0, w, h, 0.5, 0.08, 0.065, 0.07)
        nose = place([(0.565, 0.08), (0.59, 0.09), (0.565, 0.10)])
        pdf.polyline(nose)
        pdf.polygon(place(_SIDE))
        pdf.polyline(place(_SIDE_ARM))
    else:
        _ellipse(pdf, x0, y0, w, h, 0.5, 0.45, 0.30, 0.38)
        _ellipse(pdf, x0, y0, w, h, 0.17, 0.45, 0.04, 0.09)
        _ellipse(pdf, x0, y0, w, h, 0.83, 0.45, 0.04, 0.09)
        _ellipse(pdf, x0, y0, w, h, 0.38, 0.38, 0.05, 0.025)
        _ellipse(pdf, x0, y0, w, h, 0.62, 0.38, 0.05, 0.025)
        pdf.polyline(_at(x0, y0, w, h, [(0.5, 0.42), (0.47, 0.56), (0.53, 0.56)]))
        pdf.line(*_at(x0, y0, w, h, [(0.40, 0.68)])[0], *_at(x0, y0, w, h, [(0.60, 0.68)])[0])


def _text_of(pdf: FPDF, value: str) -> str:
    convert = getattr(pdf, "text_of", None)
    return str(convert(value)) if callable(convert) else value


def _font(pdf: FPDF) -> str:
    return str(getattr(pdf, "body_font", "Helvetica"))


def _body_map(pdf: FPDF, n: int, body_map: BodyMapPublic, when: Any) -> None:
    font = _font(pdf)
    legend_height = 6 + 4.5 * len(body_map.marks)
    if pdf.will_page_break(BOX_HEIGHT + 24 + min(legend_height, 60)):
        pdf.add_page()
    pdf.set_font(font, "B", 10)
    title = (
        f"Body map {n}: recorded {when(body_map.recorded_at)} by "
        f"{body_map.recorded_by.display_name} (concern {body_map.concern_id})"
    )
    pdf.multi_cell(0, 5, _text_of(pdf, title), align="L", new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y() + 6
    left = pdf.l_margin
    pdf.set_font(font, "", 8)
    for i, view in enumerate(BodyView):
        x0 = left + i * (BOX_WIDTH + GAP)
        height = BOX_WIDTH if view is BodyView.head else BOX_HEIGHT
        pdf.set_text_color(0, 0, 0)
        pdf.text(x0, top - 1.5, _VIEW_TITLES[view])
        pdf.set_draw_color(200, 200, 200)
        pdf.set_line_width(0.1)
        pdf.rect(x0, top, BOX_WIDTH, height)
        _outline(pdf, view, x0, top, BOX_WIDTH, height)
        for number, mark in enumerate(body_map.marks, start=1):
            if mark.view is not view:
                continue
            cx, cy = x0 + mark.x * BOX_WIDTH, top + mark.y * height
            pdf.set_fill_color(*KIND_COLOURS[mark.kind])
            pdf.set_draw_color(255, 255, 255)
            pdf.ellipse(cx - 1.4, cy - 1.4, 2.8, 2.8, style="DF")
            pdf.set_text_color(*KIND_COLOURS[mark.kind])
            pdf.set_font(font, "B", 7)
            pdf.text(cx + 1.8, cy + 1.0, str(number))
            pdf.set_font(font, "", 8)
    pdf.set_text_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_y(top + BOX_HEIGHT + 3)
    pdf.set_font(font, "", 8)
    with pdf.table(
        col_widths=(8, 22, 18, 24, 108),
        text_align="LEFT",
        line_height=3.8,
        padding=1,
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
    ) as table:
        heading = table.row()
        for title in ("#", "View", "Kind", "Position (x, y)", "Note"):
            heading.cell(title)
        for number, mark in enumerate(body_map.marks, start=1):
            row = table.row()
            row.cell(str(number))
            row.cell(_VIEW_TITLES[mark.view])
            row.cell(mark.kind.value, style=FontFace(color=KIND_COLOURS[mark.kind]))
            row.cell(f"{mark.x:.2f}, {mark.y:.2f}")
            row.cell(_text_of(pdf, mark.note or "-"))
    pdf.ln(4)


def _attachments(pdf: FPDF, found: Sequence[AttachmentListed], when: Any) -> None:
    pdf.set_font(_font(pdf), "", 8)
    with pdf.table(
        col_widths=(44, 20, 17, 36, 63),
        text_align="LEFT",
        v_align="TOP",
        line_height=3.8,
        padding=1,
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
    ) as table:
        heading = table.row()
        for title in ("File", "Type", "Size", "Added", "SHA-256"):
            heading.cell(title)
        for item in found:
            row = table.row()
            name = "(erased)" if item.erased else (item.filename or "(no name)")
            on = f"concern {item.concern_id}" if item.concern_id else f"case {item.case_id}"
            row.cell(_text_of(pdf, f"{name}\non {on}"))
            row.cell(item.media_type)
            row.cell(size_text(item.size))
            row.cell(_text_of(pdf, f"{when(item.uploaded_at)}\nby {item.uploaded_by.display_name}"))
            row.cell(f"{item.sha256[:32]}\n{item.sha256[32:]}")
    pdf.ln(2)


def render_sections(
    pdf: FPDF, document: Any, *, when: Any, attachments: bool = True, body_maps: bool = True
) -> None:
    """Add to ``pdf`` the file's attachments (each with its SHA-256) and its body maps
    (drawn), after what it already holds, or only the one asked for; ``when`` formats a
    timestamp."""
    found: Sequence[AttachmentListed] = getattr(document, "attachments", None) or []
    maps: Sequence[BodyMapPublic] = getattr(document, "body_maps", None) or []
    heading = getattr(pdf, "heading", None)

    def title(text: str) -> None:
        if pdf.will_page_break(30):  # a heading never alone at the foot of a page
            pdf.add_page()
        if callable(heading):
            heading(text)
        else:
            pdf.set_font(_font(pdf), "B", 13)
            pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")

    if attachments:
        title(f"Attachments ({len(found)})")
        if found:
            _attachments(pdf, found, when)
        else:
            pdf.set_font(_font(pdf), "", 9)
            pdf.cell(0, 5, "No file has been attached.", new_x="LMARGIN", new_y="NEXT")
    if not body_maps:
        return
    title(f"Body maps ({len(maps)})")
    if not maps:
        pdf.set_font(_font(pdf), "", 9)
        pdf.cell(0, 5, "No body map has been recorded.", new_x="LMARGIN", new_y="NEXT")
    for n, body_map in enumerate(maps, start=1):
        _body_map(pdf, n, body_map, when)
