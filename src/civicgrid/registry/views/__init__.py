"""Registry pages for grid workers and centre staff (基础信息): browse and search, lists, the
household view, record pages, forms, care-group lists. Every write goes through
registry.actions, every read starts from the records the user may see."""

from .browse import area, home, search
from .edit import (
    care_visit,
    options,
    record_edit,
    record_end,
    record_new,
    resident_move,
    resident_tag,
)
from .lists import care_list, record_list
from .records import record_page, unmask

__all__ = [
    "area",
    "care_list",
    "care_visit",
    "home",
    "options",
    "record_edit",
    "record_end",
    "record_list",
    "record_new",
    "record_page",
    "resident_move",
    "resident_tag",
    "search",
    "unmask",
]
