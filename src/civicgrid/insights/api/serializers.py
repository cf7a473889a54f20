from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from civicgrid.insights import kpis, query
from civicgrid.insights.query import Figures, Row


class KpiQuerySerializer(serializers.Serializer):
    """The parameters of a figure (documentation only: query.parse_query reads them)."""

    division = serializers.CharField(required=False, help_text=_("division code (default: yours)"))
    period = serializers.ChoiceField(choices=query.PERIODS, required=False, default="month")
    date = serializers.DateField(required=False, help_text=_("a day inside the period"))
    # "from" is a Python keyword: the field is declared below.
    to = serializers.DateField(required=False, help_text=_("last day of a custom period"))
    group = serializers.ChoiceField(choices=list(query.GROUPS), required=False, default="")
    category = serializers.CharField(required=False, help_text=_("category code"))
    level = serializers.IntegerField(required=False, help_text=_("division level of the groups"))


KpiQuerySerializer._declared_fields["from"] = serializers.DateField(
    required=False, help_text=_("first day of a custom period")
)


class TraceQuerySerializer(KpiQuerySerializer):
    kpi = serializers.ChoiceField(choices=list(kpis.KPIS))
    part = serializers.ChoiceField(choices=["numerator", "denominator"], default="numerator")
    key = serializers.CharField(required=False, help_text=_("the key of a grouped row"))


class KpiDefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.CharField()
    numerator = serializers.ListField(child=serializers.CharField())
    denominator = serializers.ListField(child=serializers.CharField())
    better = serializers.CharField()
    help = serializers.CharField()


def definition(kpi: kpis.Kpi) -> dict[str, Any]:
    return {
        "key": kpi.key,
        "label": str(kpi.label),
        "kind": kpi.kind,
        "numerator": list(kpi.numerator),
        "denominator": list(kpi.denominator),
        "better": kpi.better,
        "help": str(kpi.help),
    }


class RowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    division = serializers.CharField(allow_null=True, help_text=_("division code of the row"))
    counters = serializers.DictField(child=serializers.IntegerField())
    values = serializers.DictField(child=serializers.FloatField(allow_null=True))


class FiguresSerializer(serializers.Serializer):
    division = serializers.CharField()
    division_name = serializers.CharField()
    period = serializers.DictField()
    group = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(choices=["rollup", "live"])  # type: ignore[assignment]
    as_of = serializers.DateTimeField()
    total = RowSerializer()
    previous = RowSerializer(allow_null=True)
    rows = RowSerializer(many=True)


def row(data: Row | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {
        "key": data.key,
        "label": data.label,
        "division": data.division.code if data.division else None,
        "counters": data.counters,
        "values": data.values,
    }


def figures(found: Figures) -> dict[str, Any]:
    q = found.query
    return {
        "division": q.area.code,
        "division_name": q.area.name,
        "period": {
            "kind": q.period.kind,
            "start": q.period.start.isoformat(),
            "end": q.period.end.isoformat(),
            "label": q.period.label(),
        },
        "group": q.group,
        "category": q.category.code if q.category else None,
        "source": found.source,
        "as_of": found.as_of.isoformat(),
        "total": row(found.total),
        "previous": row(found.previous),
        "rows": [row(r) for r in found.rows],
    }
