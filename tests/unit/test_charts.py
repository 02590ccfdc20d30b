"""Grade charts: the rolling average, what each trace holds, and the JSON payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.charts import (
    FIRST_ATTEMPT_NAME,
    GradePoint,
    figure_payload,
    fleet_trend_figure,
    heatmap_figure,
    rolling_average,
    trend_figure,
    version_changes,
)

T0 = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)


def at(days: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def point(when, score, outcome="passed_first", *, first=None, version=1, label=""):
    return GradePoint(
        when=when,
        score=score,
        first_pass_score=score if first is None else first,
        outcome=outcome,
        rubric_version=version,
        label=label,
    )


def trace(fig, name):
    (found,) = [t for t in fig.data if t.name == name]
    return found


def x(when: datetime) -> str:
    """How a UTC time appears on the chart's x axis."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- rolling average


def test_the_window_is_open_at_its_start_and_closed_at_its_end():
    points = [
        point(at(7), 8.0),  # given out of order
        point(at(0), 4.0),
        point(at(3), 6.0),
        point(at(10, hours=2), 10.0),
    ]

    assert rolling_average(points) == [
        (at(0), 4.0),
        (at(3), 5.0),
        # Exactly seven days after the first point: the first is out.
        (at(7), 7.0),
        # (3 days 2h, 10 days 2h]: the point at day 3 is out, day 7 is in.
        (at(10, hours=2), 9.0),
    ]


def test_not_graded_points_are_left_out():
    points = [
        point(at(0), 4.0),
        point(at(1), None, "not_graded"),
        point(at(2), 8.0, "failed"),
    ]

    assert rolling_average(points) == [(at(0), 4.0), (at(2), 6.0)]


def test_points_at_the_same_moment_count_together():
    points = [point(at(0), 2.0), point(at(0), 6.0)]

    assert rolling_average(points) == [(at(0), 4.0), (at(0), 4.0)]


def test_the_window_length_is_a_parameter():
    points = [point(at(0), 2.0), point(at(0.5), 4.0), point(at(1), 9.0)]

    assert [v for _, v in rolling_average(points, days=1)] == [2.0, 3.0, 6.5]


def test_no_graded_points_no_average():
    assert rolling_average([]) == []
    assert rolling_average([point(at(0), None, "not_graded")]) == []


# ---------------------------------------------------------------- trend figure


def test_the_floor_is_a_dashed_line_at_the_floor():
    fig = trend_figure([point(at(0), 9.0)], floor=8.25)

    (floor,) = [s for s in fig.layout.shapes if s.yref == "y"]
    assert (floor.y0, floor.y1, floor.xref, floor.x0, floor.x1) == (8.25, 8.25, "paper", 0, 1)
    assert floor.line.dash == "dash"
    assert [a.text for a in fig.layout.annotations if a.yref == "y"] == ["floor 8.25"]
    assert trend_figure([], floor=7.5).layout.annotations[0].text == "floor 7.5"


def test_rubric_versions_are_marked_where_they_change_only():
    points = [
        point(at(4), 8.0, version=3),
        point(at(0), 8.0, version=1),
        point(at(1), 8.0, version=1),
        point(at(2), None, "not_graded", version=2),
        point(at(3), 8.0, version=2),
        point(at(5), 8.0, version=1),
    ]

    fig = trend_figure(points, floor=7.5)

    assert version_changes(points) == [(at(2), 2), (at(4), 3), (at(5), 1)]
    marks = [s for s in fig.layout.shapes if s.yref == "paper"]
    assert [(m.x0, m.x1) for m in marks] == [(x(at(d)), x(at(d))) for d in (2, 4, 5)]
    labels = [(a.x, a.text) for a in fig.layout.annotations if a.yref == "paper"]
    assert labels == [(x(at(2)), "rubric v2"), (x(at(4)), "rubric v3"), (x(at(5)), "rubric v1")]


def test_one_rubric_version_has_no_markers():
    fig = trend_figure([point(at(0), 8.0, version=4), point(at(1), 9.0, version=4)], 7.5)

    assert [s for s in fig.layout.shapes if s.yref == "paper"] == []
    assert [a.text for a in fig.layout.annotations] == ["floor 7.5"]


def test_each_outcome_has_its_own_trace_with_its_points():
    points = [
        point(at(0), 9.0, "passed_first"),
        point(at(1), 8.0, "passed_revised", first=5.5),
        point(at(2), 3.0, "failed", first=2.0),
        point(at(3), None, "not_graded", label="run 3 Nov 02:30"),
        point(at(4), 6.0, "failed"),
        point(at(5), 9.5, "passed_first"),
    ]

    fig = trend_figure(points, floor=7.5)

    passed = trace(fig, "Passed first pass")
    assert (list(passed.x), list(passed.y)) == ([x(at(0)), x(at(5))], [9.0, 9.5])
    revised = trace(fig, "Passed after revision")
    assert (list(revised.x), list(revised.y)) == ([x(at(1))], [8.0])
    failed = trace(fig, "Failed")
    assert (list(failed.x), list(failed.y)) == ([x(at(2)), x(at(4))], [3.0, 6.0])
    not_graded = trace(fig, "Not graded")
    assert (list(not_graded.x), list(not_graded.y)) == ([x(at(3))], [0.0])
    assert not_graded.marker.symbol == "x"
    assert "not graded" in not_graded.hovertemplate
    assert list(not_graded.hovertext) == ["run 3 Nov 02:30"]
    # Outcomes are told apart by colour and by symbol.
    outcome_traces = [passed, revised, failed, not_graded]
    assert len({t.marker.color for t in outcome_traces}) == 4
    assert len({t.marker.symbol for t in outcome_traces}) == 4


def test_revised_runs_show_their_first_pass_hollow():
    points = [
        point(at(0), 9.0, "passed_first"),
        point(at(1), 8.0, "passed_revised", first=5.5),
        point(at(2), 3.0, "failed", first=2.0),  # revised, still failed
        point(at(3), 6.0, "failed"),  # not revised: first pass is the final score
    ]

    fig = trend_figure(points, floor=7.5)

    first = trace(fig, FIRST_ATTEMPT_NAME)
    assert (list(first.x), list(first.y)) == ([x(at(1)), x(at(2))], [5.5, 2.0])
    assert first.marker.symbol == "circle-open"
    stems = trace(fig, "Revision")
    assert list(stems.y) == [5.5, 8.0, None, 2.0, 3.0, None]


def test_the_average_line_and_the_fixed_score_axis():
    points = [point(at(0), 6.0), point(at(1), None, "not_graded"), point(at(2), 9.0)]

    fig = trend_figure(points, floor=7.5)

    average = trace(fig, "7-day average")
    assert (list(average.x), list(average.y)) == ([x(at(0)), x(at(2))], [6.0, 7.5])
    assert average.mode == "lines"
    assert tuple(fig.layout.yaxis.range) == (0, 10)
    assert fig.layout.yaxis.fixedrange is True
    assert fig.layout.height == 280
    assert fig.layout.legend.orientation == "h"


def test_times_are_shown_in_the_zone_of_the_latest_point():
    new_york = ZoneInfo("America/New_York")
    points = [point(at(0), 8.0), point(at(1).astimezone(new_york), 9.0)]

    fig = trend_figure(points, floor=7.5)

    # 02:30 UTC is 21:30 the evening before in New York (EST, UTC-5).
    assert list(trace(fig, "Passed first pass").x) == [
        "2026-11-01 21:30:00",
        "2026-11-02 21:30:00",
    ]


def test_hover_text_is_escaped():
    fig = trend_figure([point(at(0), 9.0, label="<a href='x'>run</a> & co")], 7.5)

    assert list(trace(fig, "Passed first pass").hovertext) == [
        "&lt;a href='x'&gt;run&lt;/a&gt; &amp; co"
    ]


# ---------------------------------------------------------------- heatmap


def test_the_heatmap_has_a_row_per_criterion_and_a_column_per_run():
    columns = [
        ("run 1", {"urls": 4.0, "tone": 9.0, "scope": 10.0}),
        ("run 2", {"urls": 7.5, "scope": 0.0}),
        ("run 3", {"urls": None, "tone": 6.0, "scope": 10.0, "retired": 3.0}),
    ]

    fig = heatmap_figure(columns, ["scope", "urls", "tone"])

    (heat,) = fig.data
    assert list(heat.x) == ["run 1", "run 2", "run 3"]
    assert list(heat.y) == ["scope", "urls", "tone"]
    assert [list(row) for row in heat.z] == [
        [10.0, 0.0, 10.0],
        [4.0, 7.5, None],
        [9.0, None, 6.0],
    ]
    assert (heat.zmin, heat.zmax) == (0, 10)
    assert heat.hoverongaps is False
    scale = [colour for _, colour in heat.colorscale]
    assert (scale[0], scale[-1]) == ("#b42318", "#0f7a43")  # red at 0, green at 10
    assert fig.layout.yaxis.autorange == "reversed"  # first criterion on top
    assert fig.layout.xaxis.type == "category"  # labels are never read as dates


def test_runs_with_the_same_label_keep_their_own_columns():
    fig = heatmap_figure([("3 Nov", {"a": 1.0}), ("3 Nov", {"a": 2.0})], ["a"])

    assert list(fig.data[0].x) == ["3 Nov", "3 Nov (2)"]


# ---------------------------------------------------------------- fleet


def test_the_fleet_chart_has_an_average_line_per_agent():
    fig = fleet_trend_figure(
        {
            "SEO audit": [point(at(0), 6.0), point(at(1), 8.0)],
            "Competitor watch": [point(at(0), None, "not_graded"), point(at(9), 5.0)],
        }
    )

    assert [t.name for t in fig.data] == ["SEO audit", "Competitor watch"]
    assert list(fig.data[0].y) == [6.0, 7.0]
    assert (list(fig.data[1].x), list(fig.data[1].y)) == ([x(at(9))], [5.0])
    assert fig.layout.showlegend is True
    assert tuple(fig.layout.yaxis.range) == (0, 10)


# ---------------------------------------------------------------- empty input and payload


@pytest.mark.parametrize(
    "fig",
    [
        trend_figure([], 7.5),
        trend_figure([point(at(0), None, "not_graded")], 7.5),
        heatmap_figure([], []),
        heatmap_figure([], ["urls"]),
        heatmap_figure([("run 1", {})], ["urls"]),
        fleet_trend_figure({}),
        fleet_trend_figure({"Idle agent": []}),
    ],
    ids=[
        "trend",
        "trend-ungraded",
        "heatmap",
        "heatmap-no-runs",
        "heatmap-no-scores",
        "fleet",
        "fleet-idle",
    ],
)
def test_empty_input_gives_a_drawable_figure(fig):
    payload = figure_payload(fig)

    assert isinstance(payload["data"], list)
    assert payload["layout"]["height"] >= 280
    json.dumps(payload, allow_nan=False)


def test_the_payload_is_plain_compact_json():
    fig = trend_figure(
        [point(at(0), 9.0), point(at(1), 8.0, "passed_revised", first=6.0, version=2)], 7.5
    )

    payload = figure_payload(fig)
    layout = payload["layout"]

    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert "template" not in layout
    assert '"template"' not in json.dumps(payload)
    assert "system-ui" in layout["font"]["family"]
    assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == "rgba(0,0,0,0)"
    assert all(layout["margin"][side] <= 24 for side in "lrtb")
    assert layout["yaxis"]["range"] == [0, 10]
    assert len(json.dumps(payload)) < 5000
    # The figure itself is left as it was.
    assert fig.layout.margin.l is None


def test_user_strings_in_legends_and_labels_are_escaped():
    evil = '<a href="https://evil.test">Audit</a> %{y}'
    fleet = fleet_trend_figure({evil: [point(at(0), 6.0)]})
    heat = heatmap_figure([(evil, {"urls": 4.0})], ["urls"])

    escaped = '&lt;a href="https://evil.test"&gt;Audit&lt;/a&gt; %&#123;y}'
    assert fleet.data[0].name == escaped
    assert fleet.data[0].hovertemplate.startswith(escaped)
    assert list(heat.data[0].x) == [escaped]
    payload = json.dumps([figure_payload(fleet), figure_payload(heat)])
    assert "<a href" not in payload
