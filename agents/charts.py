"""Plotly figures for grade trends and criterion heatmaps: pure functions, no Django.

Views turn runs into `GradePoint`s, build a figure here and hand
`figure_payload(fig)` to a template through `json_script`; static/js/charts.js
draws it. Times are shown as wall-clock time in the zone of the points' `when`
(plotly.js ignores UTC offsets), so pass them already in the zone the page
shows, e.g. the client's.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from itertools import accumulate, pairwise
from typing import Any, Literal

# plotly ships no type information: go.Figure is Any to mypy.
import plotly.graph_objects as go  # type: ignore[import-untyped]

Outcome = Literal["passed_first", "passed_revised", "failed", "not_graded"]

HEIGHT = 280
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
# The palette of static/css/app.css.
SUCCESS, ACCENT, DANGER, MUTED, TEXT, BORDER = (
    "#0f7a43",
    "#4338ca",
    "#b42318",
    "#5b6477",
    "#1b2130",
    "#dfe3ee",
)
# outcome -> (legend name, colour, marker symbol)
OUTCOME_STYLE: dict[Outcome, tuple[str, str, str]] = {
    "passed_first": ("Passed first pass", SUCCESS, "circle"),
    "passed_revised": ("Passed after revision", ACCENT, "diamond"),
    "failed": ("Failed", DANGER, "square"),
    "not_graded": ("Not graded", MUTED, "x"),
}
FIRST_ATTEMPT_NAME = "First pass (revised runs)"
# Red at 0, amber in the middle, green at 10.
SCORE_COLOURS = [[0.0, DANGER], [0.5, "#e0a800"], [0.75, "#8fbf5a"], [1.0, SUCCESS]]


@dataclass(frozen=True)
class GradePoint:
    when: datetime  # when the run finished (aware)
    score: float | None  # final overall score 0-10; None = not graded
    first_pass_score: float | None
    outcome: Outcome
    rubric_version: int
    label: str = ""  # hover text, e.g. "run 3 Nov 02:30"


# ---------------------------------------------------------------- arithmetic


def rolling_average(points: Sequence[GradePoint], days: int = 7) -> list[tuple[datetime, float]]:
    """For each graded point, in time order: the mean of graded scores in (t - days, t]."""
    graded = sorted((p for p in points if p.score is not None), key=lambda p: p.when)
    times = [p.when for p in graded]
    sums = [0.0, *accumulate(float(p.score or 0.0) for p in graded)]
    window = timedelta(days=days)
    averages: list[tuple[datetime, float]] = []
    for t in times:
        # Ties at t count in full; a point exactly `days` before t is outside.
        low, high = bisect_right(times, t - window), bisect_right(times, t)
        averages.append((t, (sums[high] - sums[low]) / (high - low)))
    return averages


# ---------------------------------------------------------------- figures


def trend_figure(points: Sequence[GradePoint], floor: float) -> go.Figure:
    """Scores over time by outcome, first-pass scores of revised runs, the rolling
    average, the floor and the rubric version changes."""
    ordered = sorted(points, key=lambda p: p.when)
    zone = _zone(ordered)
    fig = go.Figure()

    # Each revised run: a thin stem from its first-pass score to its final one.
    revised = [p for p in ordered if _shows_first_pass(p)]
    stem_x: list[str | None] = []
    stem_y: list[float | None] = []
    for p in revised:
        stem_x += [_x(p.when, zone), _x(p.when, zone), None]
        stem_y += [p.first_pass_score, p.score, None]
    fig.add_trace(
        go.Scatter(
            x=stem_x,
            y=stem_y,
            mode="lines",
            name="Revision",
            line={"color": ACCENT, "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[_x(p.when, zone) for p in revised],
            y=[p.first_pass_score for p in revised],
            mode="markers",
            name=FIRST_ATTEMPT_NAME,
            marker={"symbol": "circle-open", "color": ACCENT, "size": 8, "line": {"width": 1.5}},
            hovertext=[_hover(p, zone) for p in revised],
            hovertemplate="%{hovertext}<br>first pass %{y:.1f}<extra></extra>",
            cliponaxis=False,
            showlegend=bool(revised),
        )
    )

    for outcome, (name, colour, symbol) in OUTCOME_STYLE.items():
        group = [p for p in ordered if p.outcome == outcome]
        graded = outcome != "not_graded"
        fig.add_trace(
            go.Scatter(
                x=[_x(p.when, zone) for p in group],
                y=[(p.score or 0.0) if graded else 0.0 for p in group],
                mode="markers",
                name=name,
                marker={"symbol": symbol, "color": colour, "size": 9 if graded else 8},
                hovertext=[_hover(p, zone) for p in group],
                hovertemplate=(
                    f"%{{hovertext}}<br>{name.lower()}, score %{{y:.1f}}<extra></extra>"
                    if graded
                    else "%{hovertext}<br>not graded<extra></extra>"
                ),
                cliponaxis=False,
                showlegend=bool(group),
            )
        )

    average = rolling_average(ordered)
    fig.add_trace(
        go.Scatter(
            x=[_x(t, zone) for t, _ in average],
            y=[round(v, 3) for _, v in average],
            mode="lines",
            name="7-day average",
            line={"color": TEXT, "width": 2, "shape": "spline", "smoothing": 0.6},
            hovertemplate="7-day average %{y:.2f}<extra></extra>",
            showlegend=bool(average),
        )
    )

    shapes: list[dict[str, Any]] = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": floor,
            "y1": floor,
            "line": {"color": DANGER, "width": 1, "dash": "dash"},
            "layer": "below",
        }
    ]
    annotations: list[dict[str, Any]] = [
        {
            "text": f"floor {floor:g}",
            "xref": "paper",
            "x": 1,
            "xanchor": "right",
            "yref": "y",
            "y": floor,
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 11, "color": DANGER},
        }
    ]
    for when, version in version_changes(ordered):
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "x0": _x(when, zone),
                "x1": _x(when, zone),
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": MUTED, "width": 1, "dash": "dot"},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "text": f"rubric v{version}",
                "xref": "x",
                "x": _x(when, zone),
                "xanchor": "left",
                "yref": "paper",
                "y": 1,
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 11, "color": MUTED},
            }
        )
    fig.update_layout(
        _layout(),
        shapes=shapes,
        annotations=annotations,
        xaxis={"type": "date", "automargin": True, "gridcolor": BORDER},
        yaxis=_score_axis(),
        hovermode="closest",
    )
    return fig


def version_changes(points: Sequence[GradePoint]) -> list[tuple[datetime, int]]:
    """(when, new version) for each point, in time order, whose rubric version differs
    from the point before it."""
    ordered = sorted(points, key=lambda p: p.when)
    return [
        (p.when, p.rubric_version)
        for before, p in pairwise(ordered)
        if p.rubric_version != before.rubric_version
    ]


def heatmap_figure(
    columns: Sequence[tuple[str, Mapping[str, float | None]]], criteria: Sequence[str]
) -> go.Figure:
    """Criterion scores per run: a column per run (oldest first), a row per criterion
    (first at the top); a criterion a run has no score for is a gap."""
    # Tick labels render plotly's HTML subset too: escape them like every user string.
    labels = _unique([_escape(label) for label, _ in columns])
    z = [[scores.get(key) for _, scores in columns] for key in criteria]
    fig = go.Figure(
        go.Heatmap(
            x=labels,
            y=[_escape(key) for key in criteria],
            z=z,
            zmin=0,
            zmax=10,
            colorscale=SCORE_COLOURS,
            xgap=2,
            ygap=2,
            hoverongaps=False,
            hovertemplate="%{y}<br>%{x}<br>score %{z:.1f}<extra></extra>",
            colorbar={"thickness": 10, "len": 1, "tickvals": [0, 5, 10], "outlinewidth": 0},
        )
    )
    fig.update_layout(
        _layout(height=max(HEIGHT, 80 + 26 * len(criteria))),
        xaxis={"type": "category", "automargin": True, "showgrid": False, "tickangle": -30},
        yaxis={
            "type": "category",
            "automargin": True,
            "showgrid": False,
            "autorange": "reversed",
        },
    )
    return fig


def fleet_trend_figure(series: Mapping[str, Sequence[GradePoint]]) -> go.Figure:
    """One 7-day rolling average line per agent, for a client's page."""
    zone = _zone([p for points in series.values() for p in points])
    fig = go.Figure()
    for name, points in series.items():
        average = rolling_average(points)
        fig.add_trace(
            go.Scatter(
                x=[_x(t, zone) for t, _ in average],
                y=[round(v, 3) for _, v in average],
                mode="lines+markers",
                # The legend renders plotly's HTML subset: an agent named
                # '<a href=...>' must show as text, not become a link.
                name=_escape(name),
                marker={"size": 4},
                line={"width": 2},
                hovertemplate=f"{_escape(name)}<br>7-day average %{{y:.2f}}<extra></extra>",
            )
        )
    fig.update_layout(
        _layout(),
        showlegend=True,
        xaxis={"type": "date", "automargin": True, "gridcolor": BORDER},
        yaxis=_score_axis(),
        hovermode="closest",
    )
    return fig


def figure_payload(fig: go.Figure) -> dict[str, Any]:
    """The figure as plain JSON data for `json_script`, without plotly's template and
    with a compact layout that blends into the page."""
    compact = go.Figure(fig)
    compact.update_layout(
        template="none",
        margin={"l": 8, "r": 8, "t": 24, "b": 8, "pad": 0},
        font={"family": FONT, "size": 12, "color": TEXT},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel={"font": {"family": FONT}},
    )
    payload: dict[str, Any] = json.loads(compact.to_json())
    payload["layout"].pop("template", None)
    return payload


# ---------------------------------------------------------------- helpers


def _layout(height: int = HEIGHT) -> dict[str, Any]:
    return {
        "height": height,
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": -0.15,
            "yanchor": "top",
            "font": {"size": 11},
        },
    }


def _score_axis() -> dict[str, Any]:
    return {
        "range": [0, 10],
        "fixedrange": True,
        "tickvals": [0, 2, 4, 6, 8, 10],
        "gridcolor": BORDER,
        "zeroline": False,
        "automargin": True,
    }


def _shows_first_pass(p: GradePoint) -> bool:
    """A revised run: passed after revision, or failed after a revision changed its score."""
    if p.first_pass_score is None or p.score is None:
        return False
    return p.outcome == "passed_revised" or (
        p.outcome == "failed" and p.first_pass_score != p.score
    )


def _zone(points: Sequence[GradePoint]) -> tzinfo | None:
    """The zone of the latest point: every time on one chart is shown in it."""
    return max(points, key=lambda p: p.when).when.tzinfo if points else None


def _x(when: datetime, zone: tzinfo | None) -> str:
    local = when.astimezone(zone) if zone is not None and when.tzinfo is not None else when
    return local.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def _hover(p: GradePoint, zone: tzinfo | None) -> str:
    if p.label:
        return _escape(p.label)
    local = p.when.astimezone(zone) if zone is not None and p.when.tzinfo is not None else p.when
    return f"{local.day} {local:%b %H:%M}"


def _escape(text: str) -> str:
    """Plotly renders a subset of HTML in hover text and reads %{...} in templates."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("%{", "%&#123;")
    )


def _unique(labels: list[str]) -> list[str]:
    """Heatmap columns are categories: two runs with one label would share a column."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out
