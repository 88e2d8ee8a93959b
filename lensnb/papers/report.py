"""``PaperReport``: a reproduction's tables, curves and verdicts, as JSON and as a static HTML page.

A report holds what a reader needs to judge a reproduction: the paper, the model and
data used, the layer-numbering convention, "paper vs ours" tables, per-layer curves,
and each of the paper's claims with whether this run supports it and on what
evidence. ``save`` writes ``<key>.json`` and ``<key>.html``; the HTML is one file with
inline SVG charts, no script, every string escaped.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.relevance.html import NO_MATH

__all__ = ["Claim", "Curve", "PaperReport", "svg_chart"]

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims and what this run says about it.

    Attributes
    ----------
    text : str
        The claim, in the paper's terms.
    holds : bool or None
        Whether this run supports it (None: this run cannot tell).
    evidence : str
        The numbers behind the verdict.
    """

    text: str
    holds: bool | None
    evidence: str

    @property
    def verdict(self) -> str:
        return {True: "supported", False: "not supported", None: "cannot tell"}[self.holds]


@dataclass(frozen=True)
class Curve:
    """Named per-layer series drawn in one chart (e.g. accuracy per layer for each task).

    Attributes
    ----------
    title : str
    series : dict of str to (x, y, error or None)
    x_label, y_label : str
    """

    title: str
    series: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]]
    x_label: str = "layer"
    y_label: str = ""


@dataclass
class PaperReport:
    """What a reproduction found.

    Attributes
    ----------
    key : str
        The module name (``"jawahar"``), used for file names.
    title, citation : str
    model : str
        The model used and why (paper's own, or the embedded fallback).
    data : str
        The datasets and sizes.
    convention : str
        The layer numbering of the tables.
    settings : dict
    tables : dict of str to DataFrame
    curves : list of Curve
    claims : list of Claim
    notes : list of str
        Deviations from the paper and everything a reader should know.
    """

    key: str
    title: str
    citation: str
    model: str = ""
    data: str = ""
    convention: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    curves: list[Curve] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_table(self, name: str, table: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(table, pd.DataFrame):
            raise LensError.bad_argument("table", table, "a pandas DataFrame")
        self.tables[name] = table
        return table

    def add_claim(self, text: str, holds: bool | None, evidence: str) -> Claim:
        if holds is not None and not isinstance(holds, (bool, np.bool_)):
            raise LensError.bad_argument("holds", holds, "True, False or None (cannot tell)")
        claim = Claim(text, None if holds is None else bool(holds), evidence)
        self.claims.append(claim)
        return claim

    # -- JSON -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Plain JSON values: tables as lists of records, NaN as null."""
        return _clean({
            "key": self.key, "title": self.title, "citation": self.citation, "model": self.model, "data": self.data,
            "convention": self.convention, "settings": self.settings,
            "tables": {name: {"columns": [str(c) for c in t.columns], "index": [str(i) for i in t.index],
                              "rows": t.to_numpy().tolist()} for name, t in self.tables.items()},
            "curves": [{"title": c.title, "x_label": c.x_label, "y_label": c.y_label,
                        "series": {n: {"x": list(x), "y": list(y), "error": None if e is None else list(e)}
                                   for n, (x, y, e) in c.series.items()}} for c in self.curves],
            "claims": [{"claim": c.text, "verdict": c.verdict, "evidence": c.evidence} for c in self.claims],
            "notes": list(self.notes),
        })  # fmt: skip

    # -- HTML -----------------------------------------------------------------------------
    def to_html(self) -> str:
        """One self-contained page: no script, inline SVG charts, every string escaped."""
        e = html.escape
        parts = [
            f"<h1>{e(self.title)}</h1><p class='citation'>{e(self.citation)}</p>",
            "<table class='facts'>",
            *(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in
              (("model", self.model), ("data", self.data), ("layers", self.convention),
               ("settings", json.dumps(self.settings, default=str)))),
            "</table>",
        ]  # fmt: skip
        if self.claims:
            parts.append("<h2>The paper's claims in this run</h2><table class='claims'><tr><th>claim</th>"
                         "<th>verdict</th><th>evidence</th></tr>")  # fmt: skip
            for claim in self.claims:
                parts.append(f"<tr class='{claim.verdict.replace(' ', '-')}'><td>{e(claim.text)}</td>"
                             f"<td>{e(claim.verdict)}</td><td>{e(claim.evidence)}</td></tr>")  # fmt: skip
            parts.append("</table>")
        for name, table in self.tables.items():
            parts.append(f"<h2>{e(name)}</h2>{_frame_html(table)}")
        for curve in self.curves:
            parts.append(svg_chart(curve))
        if self.notes:
            parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in self.notes) + "</ul>")
        style = (
            "body{font-family:sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse;margin:8px 0}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}"
            ".facts td,.facts th,.claims td{text-align:left}.supported td:nth-child(2){color:#1a7f37}"
            ".not-supported td:nth-child(2){color:#c62828}.citation{color:#555}"
        )
        return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{e(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")  # fmt: skip

    def _repr_html_(self) -> str:
        body = self.to_html().split("<body>", 1)[1].rsplit("</body>", 1)[0]
        return f"<div class='{NO_MATH}'>{body}</div>"  # Jupyter's MathJax would typeset "$...$" in the text

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``<key>.json`` and ``<key>.html`` into ``folder`` (created if needed).

        Raises
        ------
        LensError
            When ``key`` is not a plain file name (letters, digits, ``-``, ``_``, ``.``;
            not starting with ``.``): it could write outside ``folder``.
        """
        if not isinstance(self.key, str) or not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", self.key):
            raise LensError.bad_argument(
                "key", self.key, "a plain file name (letters, digits, '-', '_', '.'; not starting with '.')"
            )
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        json_path, html_path = folder / f"{self.key}.json", folder / f"{self.key}.html"
        json_path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        html_path.write_text(self.to_html(), encoding="utf-8")
        return json_path, html_path

    def __repr__(self) -> str:
        verdicts = ", ".join(c.verdict for c in self.claims)
        return f"PaperReport({self.key}: {len(self.tables)} tables, {len(self.claims)} claims: {verdicts})"


def _frame_html(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return shown.to_html(escape=True, border=0)


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def svg_chart(curve: Curve, width: int = 520, height: int = 260) -> str:
    """A line chart of ``curve`` as inline SVG (escaped labels, error bars where given)."""
    e = html.escape
    points = [(float(x), float(y)) for xs, ys, _ in curve.series.values() for x, y in zip(xs, ys)
              if y is not None and math.isfinite(float(y))]  # fmt: skip
    if not points:
        return f"<p>{e(curve.title)}: no values</p>"
    lows = [float(y) - float(err) for xs, ys, errs in curve.series.values() if errs is not None
            for y, err in zip(ys, errs) if y is not None and err is not None and math.isfinite(float(err))]  # fmt: skip
    highs = [float(y) + float(err) for xs, ys, errs in curve.series.values() if errs is not None
             for y, err in zip(ys, errs) if y is not None and err is not None and math.isfinite(float(err))]  # fmt: skip
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min([p[1] for p in points] + lows), max([p[1] for p in points] + highs)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    left, right, top, bottom = 56, 150, 28, 36

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
           f"font-size='11'><text x='{left}' y='16' font-weight='bold'>{e(curve.title)}</text>",
           f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' stroke='#999'/>",
           f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='#999'/>",
           f"<text x='{left - 4}' y='{py(y1) + 4:.1f}' text-anchor='end'>{y1:.3g}</text>",
           f"<text x='{left - 4}' y='{py(y0) + 4:.1f}' text-anchor='end'>{y0:.3g}</text>",
           f"<text x='{(left + width - right) / 2:.0f}' y='{height - 6}' text-anchor='middle'>{e(curve.x_label)}</text>",
           f"<text x='12' y='{(top + height - bottom) / 2:.0f}' transform='rotate(-90 12 {(top + height - bottom) / 2:.0f})' "
           f"text-anchor='middle'>{e(curve.y_label)}</text>"]  # fmt: skip
    for x in sorted({p[0] for p in points}):
        out.append(f"<text x='{px(x):.1f}' y='{height - bottom + 14}' text-anchor='middle'>{x:g}</text>")
    for index, (name, (xs, ys, errs)) in enumerate(curve.series.items()):
        color = COLORS[index % len(COLORS)]
        pairs = [(float(x), float(y)) for x, y in zip(xs, ys) if y is not None and math.isfinite(float(y))]
        if pairs:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pairs)
            out.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>")
            out.extend(f"<circle cx='{px(x):.1f}' cy='{py(y):.1f}' r='3' fill='{color}'/>" for x, y in pairs)
        if errs is not None:
            for x, y, err in zip(xs, ys, errs):
                if y is None or err is None or not (math.isfinite(float(y)) and math.isfinite(float(err))):
                    continue
                out.append(f"<line x1='{px(float(x)):.1f}' y1='{py(float(y) - float(err)):.1f}' x2='{px(float(x)):.1f}' "
                           f"y2='{py(float(y) + float(err)):.1f}' stroke='{color}'/>")  # fmt: skip
        out.append(f"<rect x='{width - right + 10}' y='{top + index * 16}' width='10' height='10' fill='{color}'/>"
                   f"<text x='{width - right + 24}' y='{top + index * 16 + 9}'>{e(name)}</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)
