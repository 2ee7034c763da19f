"""Panel and dashboard builders shared by every brandpulse dashboard.

They fix what the boards must agree on: the ``${datasource}`` variable on every panel and
query, refIds A, B, C... in target order, the brand variable, the links between boards and
the legend and colouring conventions. The dashboard modules then only say what each panel
shows.

Panels tagged ``[behaviour]`` in their description read the behaviour-analysis metrics that
the workers do not export yet; see tests/ops/metric_contract.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
# The brand variable as a PromQL matcher, short because it sits inside most queries.
B = 'brand=~"$brand"'
TAGS = ["brandpulse"]
BEHAVIOUR = "[behaviour] Needs the behaviour-analysis metrics (next worker release). "

PanelBuilder = Builder[dashboard_model.Panel]  # what a dashboard accepts as a panel
Steps = Sequence[tuple[float | None, str]]


class _PanelSettings(Protocol):
    """The setters every SDK panel builder has, though no common base class declares them."""

    def title(self, title: str, /) -> Self: ...
    def description(self, description: str, /) -> Self: ...
    def datasource(self, datasource: DataSourceRef, /) -> Self: ...
    def unit(self, unit: str, /) -> Self: ...
    def span(self, w: int, /) -> Self: ...
    def height(self, h: int, /) -> Self: ...
    def with_target(self, target: prom.Dataquery, /) -> Self: ...


P = TypeVar("P", bound=_PanelSettings)


def query(
    expr: str, legend: str = "", *, instant: bool = False, table_fmt: bool = False
) -> prom.Dataquery:
    """One PromQL target; refIds are assigned by the panel helpers."""
    q = prom.Dataquery().expr(expr)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if table_fmt:
        q = q.format(PromQueryFormat.TABLE)
    return q


def tq(expr: str) -> prom.Dataquery:
    """Instant query in table format, for one column of a merged table."""
    return query(expr, instant=True, table_fmt=True)


def thresholds(steps: Steps) -> db.ThresholdsConfig:
    """Absolute thresholds; the first step must have value None (the base colour)."""
    return (
        db.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def panel(
    builder: P,
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    unit: str,
    w: int,
    h: int,
) -> P:
    """Settings shared by every panel: datasource variable, size, refIds A, B, C..."""
    p = builder.title(title).description(description).datasource(DS).unit(unit).span(w).height(h)
    for i, target in enumerate(targets):
        p = p.with_target(target.ref_id(chr(ord("A") + i)))
    return p


def ts(
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    min_val: float | None = None,
    max_val: float | None = None,
    threshold_lines: Steps | None = None,
    bars: bool = False,
) -> timeseries.Panel:
    """Time series; threshold_lines draws SLO/burn-rate reference lines."""
    p = panel(timeseries.Panel(), title, description, targets, unit, w, h)
    p = p.legend(
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    if min_val is not None:
        p = p.min(min_val)
    if max_val is not None:
        p = p.max(max_val)
    if threshold_lines:
        p = p.thresholds(thresholds(threshold_lines)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    if bars:
        p = p.draw_style(common.GraphDrawStyle.BARS).fill_opacity(60)
    return p


def single_stat(
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    w: int = 4,
    h: int = 4,
    steps: Steps = ((None, "green"),),
    decimals: float | None = None,
) -> stat.Panel:
    """Instant single value coloured by thresholds: the at-a-glance scorecard cell."""
    p = panel(stat.Panel(), title, description, targets, unit, w, h)
    p = p.thresholds(thresholds(steps)).color_mode(common.BigValueColorMode.BACKGROUND)
    p = p.graph_mode(common.BigValueGraphMode.NONE).reduce_options(
        common_builders.ReduceDataOptions().calcs(["lastNotNull"])
    )
    if decimals is not None:
        p = p.decimals(decimals)
    return p


def state_timeline(
    title: str,
    description: str,
    target: prom.Dataquery,
    states: Mapping[str, tuple[str, str]],
    *,
    w: int,
    h: int,
) -> statetimeline.Panel:
    """A 0/1 series drawn as named, coloured states: states maps value -> (text, colour)."""
    return panel(statetimeline.Panel(), title, description, [target], "none", w, h).mappings(
        [
            ValueMap(
                options={
                    value: ValueMappingResult(text=text, color=color)
                    for value, (text, color) in states.items()
                }
            )
        ]
    )


def table_panel(
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    *,
    w: int,
    h: int,
    transformations: Sequence[DataTransformerConfig] = (),
) -> table.Panel:
    """A table of instant series, reshaped by Grafana transformations in order."""
    p = panel(table.Panel(), title, description, targets, "none", w, h)
    for transformation in transformations:
        p = p.with_transformation(transformation)
    return p


def organize(rename: Mapping[str, str], hide: Sequence[str] = ("Time",)) -> DataTransformerConfig:
    """Hide label columns a reader needs not see and give the others readable names."""
    return DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": dict.fromkeys(hide, True), "renameByName": dict(rename)},
    )


def merged_table(
    title: str,
    description: str,
    columns: Sequence[tuple[str, str]],
    *,
    h: int,
    hide: Sequence[str] = ("Time",),
) -> table.Panel:
    """One line per brand, one column per (column title, PromQL) pair.

    Grafana's merge joins the instant queries on their labels and names each value column
    ``Value #<refId>``; the organize step renames them after the column titles.
    """
    rename = {f"Value #{chr(ord('A') + i)}": name for i, (name, _) in enumerate(columns)}
    return table_panel(
        title,
        description,
        [tq(expr) for _, expr in columns],
        w=24,
        h=h,
        transformations=[
            DataTransformerConfig(id_val="merge", options={}),
            organize(rename | {"brand": "Brand"}, hide),
        ],
    )


def dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    """Common dashboard chrome: datasource variable, links to the other brandpulse boards."""
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            db.DashboardLink("brandpulse")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def label_variable(name: str, label: str, promql: str) -> db.QueryVariable:
    """A variable listing one label's values, refreshed with the time range, sorted A-Z."""
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(promql)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def multi_value(variable: db.QueryVariable) -> db.QueryVariable:
    """Allow several values and All, where All matches every value (regex ``.*``)."""
    return variable.multi(True).include_all(True).all_value(".*")


def brand_variable() -> db.QueryVariable:
    """Brands come from the SLA-target gauge, which every worker exports for every brand."""
    return multi_value(
        label_variable("brand", "Brand", "label_values(brandpulse_sla_target_seconds, brand)")
    )


def add_row(d: db.Dashboard, row: str | db.Row, panels: Sequence[PanelBuilder]) -> db.Dashboard:
    """A row header then its panels; the SDK lays panels out in the order they are added."""
    d = d.with_row(db.Row(row) if isinstance(row, str) else row)
    return add_panels(d, panels)


def add_panels(d: db.Dashboard, panels: Sequence[PanelBuilder]) -> db.Dashboard:
    """Panels in order, left to right and wrapping at the grid's 24 columns."""
    for p in panels:
        d = d.with_panel(p)
    return d
