"""The department types a fresh installation starts with (configurable afterwards)."""

from __future__ import annotations

from typing import Any

DEFAULT_TYPES = [
    ("political_legal", "政法委", "Political-legal affairs"),
    ("urban_management", "城市管理", "Urban management"),
    ("health", "卫生健康", "Health"),
    ("public_security", "公安", "Public security (police)"),
    ("civil_affairs", "民政", "Civil affairs"),
    ("emergency", "应急管理", "Emergency management"),
    ("market_supervision", "市场监管", "Market supervision"),
    ("housing", "住房城乡建设", "Housing and urban-rural development"),
    ("natural_resources", "自然资源", "Natural resources"),
    ("ecology", "生态环境", "Ecology and environment"),
    ("water", "水利", "Water resources"),
    ("transport", "交通运输", "Transport"),
    ("education", "教育", "Education"),
    ("human_resources", "人力资源社会保障", "Human resources and social security"),
    ("justice", "司法行政", "Justice"),
    ("petitions", "信访", "Letters and visits"),
    ("fire_rescue", "消防救援", "Fire and rescue"),
    ("utilities", "公用事业", "Public utilities"),
]


def ensure_department_types(model: Any) -> None:
    """Create the default types that are missing (`model` may be a migration's historical
    model). Idempotent."""
    for order, (code, name, name_en) in enumerate(DEFAULT_TYPES, start=1):
        model.objects.get_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "sort_order": order * 10}
        )
