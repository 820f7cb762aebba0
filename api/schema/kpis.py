"""The KPI cube in GraphQL: ``kpis(measures, by, filter, grouping)``. Names are enums
built from ``insight.kpis``' whitelists; analyst or admin, like campaigns."""

from __future__ import annotations

import datetime as dt
import enum
import math
from typing import Any

import pandas as pd
import strawberry
from strawberry.types import Info

from api.auth import Role
from api.context import LocaleArgument, ctx
from api.errors import PublicError
from insight import kpis as cube

KpiMeasure = strawberry.enum(
    enum.Enum("KpiMeasure", {name.upper(): name for name in cube.MEASURES}),
    description="A KPI measure (see docs/tags-campaigns-kpis.md for definitions).")
KpiDimension = strawberry.enum(
    enum.Enum("KpiDimension", {name.upper(): name for name in cube.DIMENSIONS}),
    description="A dimension of the KPI cube.")


@strawberry.enum(description="How subtotals are formed.")
class KpiGrouping(enum.Enum):
    ROLLUP = "rollup"
    CUBE = "cube"
    PLAIN = "plain"


@strawberry.input(description="Keep only these values of a dimension (months as YYYY-MM).")
class KpiFilter:
    dimension: KpiDimension  # type: ignore[valid-type]
    values: list[str]


def _label(info: Info, name: str, locale: str | None) -> str:
    return cube.label(name, ctx(info).in_locale(locale))


@strawberry.type
class KpiValue:
    measure: str
    value: float | None

    @strawberry.field(description="The measure's name as analysts read it, in `locale`.")
    def label(self, info: Info, locale: LocaleArgument = None) -> str:
        return _label(info, self.measure, locale)


@strawberry.type
class KpiCell:
    dimension: str
    value: str | None = strawberry.field(description="Null on a subtotal of this dimension.")

    @strawberry.field(description="The dimension's name as analysts read it, in `locale`.")
    def label(self, info: Info, locale: LocaleArgument = None) -> str:
        return _label(info, self.dimension, locale)

    @strawberry.field(description="The value as analysts read it, in `locale`: months "
                                  "(2026年7月), value tiers and callcircle's own words; the "
                                  "operator's values (plans, channels, regions) as exported. "
                                  "Null on a subtotal.")
    def value_label(self, info: Info, locale: LocaleArgument = None) -> str | None:
        return cube.value_label(self.dimension, self.value, ctx(info).in_locale(locale))


@strawberry.type(description="One row of the cube: dimension values, then measures.")
class KpiRow:
    dimensions: list[KpiCell]
    rolled_up: list[str] = strawberry.field(description="Dimensions summed over in this row.")
    measures: list[KpiValue]


def _text(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None  # a subtotal of the dimension (a month subtotal is NaT, not "NaT")
    if isinstance(value, dt.date):
        return value.isoformat()[:7]
    return str(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


@strawberry.type
class KpiQuery:
    @strawberry.field(description="KPI measures by dimensions with subtotals (ROLLUP drills "
                                  "down `by` in order; CUBE gives every combination); "
                                  "analyst or admin.")
    async def kpis(self, info: Info, measures: list[KpiMeasure],  # type: ignore[valid-type]
                   by: list[KpiDimension] | None = None,  # type: ignore[valid-type]
                   filter: list[KpiFilter] | None = None,
                   grouping: KpiGrouping = KpiGrouping.ROLLUP) -> list[KpiRow]:
        context = ctx(info)
        context.require(Role.ANALYST, "KPIs")
        names = [m.value for m in measures]
        dims = [d.value for d in by or []]
        filters = {f.dimension.value: list(f.values) for f in filter or []}
        try:
            frame = await context.snapshot.on_warehouse(lambda con: cube.kpis(
                con, names, dims, filters, grouping=grouping.value))
        except ValueError as exc:
            raise PublicError(str(exc)) from None
        rows = []
        for record in frame.to_dict("records"):
            rolled = record.get("rolled_up")
            rolled = [] if rolled is None else list(rolled)
            rows.append(KpiRow(
                dimensions=[KpiCell(dimension=d, value=_text(record[d])) for d in dims],
                rolled_up=[str(r) for r in rolled],
                measures=[KpiValue(measure=m, value=_number(record[m])) for m in names]))
        return rows
