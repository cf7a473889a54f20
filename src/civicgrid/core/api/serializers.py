"""Serializer helpers shared by the API apps."""

from __future__ import annotations

import copy
from typing import Any, ClassVar


class CachedFieldsMixin:
    """Build a serializer class's fields once per process, then hand each instance a copy.

    A ModelSerializer introspects its model for every field of every instance (and of every
    nested serializer) — about a third of a case POST's CPU. Only for serializers whose fields
    depend on nothing but the class: per-instance changes (a restricted queryset, say) are made
    in `__init__` on the instance's own copy, as before.
    """

    _field_templates: ClassVar[dict[type, Any]] = {}

    def get_fields(self) -> Any:
        cls = type(self)
        template = CachedFieldsMixin._field_templates.get(cls)
        if template is None:
            template = super().get_fields()  # type: ignore[misc]
            CachedFieldsMixin._field_templates[cls] = template
        return copy.deepcopy(template)
