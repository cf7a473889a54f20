"""Reading the change feed as a subscriber may see it, and the subscriptions a user may see.

A subscriber receives the entries of its record types whose record lies (or lay, before a move)
in its area, each restricted to its field classes. An entry none of whose changed fields is in
those classes is left out — unless the record ended or crossed the area's boundary, which every
subscriber of the type must learn. Leaving entries out never breaks resuming: the `next` cursor
of a page is the last sequence number *examined*, not the last one returned.

Why the pages hold together under concurrent writers: sequence numbers come from one counter row
that each writing transaction holds locked until it commits (exchange/feed.py), so the entries
up to the committed counter value are all visible once that value is. A page reads the counter
first and then only entries up to it, so a later page can never find an entry below a cursor
handed out earlier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from civicgrid.accounts.roles import Role
from civicgrid.core.paths import is_under, subtree_q
from civicgrid.core.scoping import Action

from .feed import COUNTER
from .fields import ALWAYS_SHARED, FieldClass, RecordType, field_class, visible_data
from .models import FeedCounter, FeedEntry, Subscription

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Entries examined per database round trip, and at most per page: a subscriber of a rare type
# or a small area gets a short (even empty) page with a cursor further on, never a slow one.
CHUNK = 500
MAX_EXAMINED = 20_000


@dataclass(frozen=True)
class Grant:
    """What one subscription lets its unit receive."""

    record_types: frozenset[str]
    classes: frozenset[str]
    path: str

    @classmethod
    def of(cls, subscription: Subscription) -> Grant:
        return cls(
            record_types=frozenset(subscription.record_types),
            classes=frozenset(subscription.field_classes),
            path=subscription.division_path,
        )


@dataclass
class Page:
    results: list[dict[str, Any]] = field(default_factory=list)
    next: int = 0  # the cursor to ask with next time (`since`)
    head: int = 0  # the newest sequence number when the page was read
    has_more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "next": self.next,
            "head": self.head,
            "has_more": self.has_more,
            "results": self.results,
        }


def head() -> int:
    """The newest committed sequence number of the feed."""
    return FeedCounter.objects.filter(key=COUNTER).values_list("last", flat=True).first() or 0


# --- subscriptions ----------------------------------------------------------------------------
def visible_subscriptions(user: Any) -> QuerySet[Subscription]:
    return Subscription.objects.restrict(user, Action.VIEW).select_related(
        "unit", "division", "delivery"
    )


def handler_unit_ids(user: Any) -> list[int]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    return [u for r, _p, u in user.assignment_triples() if r == Role.DEPARTMENT_HANDLER and u]


def feed_subscriptions(user: Any) -> QuerySet[Subscription]:
    """The active subscriptions whose feed `user` reads: those of the units they handle for."""
    return Subscription.objects.filter(
        unit_id__in=handler_unit_ids(user), is_active=True, unit__is_active=True
    ).order_by("pk")


# --- the feed ---------------------------------------------------------------------------------
def _entries_q(grants: Sequence[Grant], types: frozenset[str] | None) -> Q | None:
    q: Q | None = None
    for grant in grants:
        kinds = grant.record_types if types is None else grant.record_types & types
        if not kinds:
            continue
        where = subtree_q("division_path", grant.path) | subtree_q("previous_path", grant.path)
        part = Q(record_type__in=sorted(kinds)) & where
        q = part if q is None else q | part
    return q


def _inside(path: str, grant: Grant) -> bool:
    return bool(path) and is_under(path, grant.path)


def render(entry: FeedEntry, grants: Iterable[Grant]) -> dict[str, Any] | None:
    """The entry as these grants' holder receives it, or None when it concerns them not."""
    classes: set[str] = set()
    crossed = False
    in_area = False
    matched = False
    for grant in grants:
        if entry.record_type not in grant.record_types:
            continue
        now_in = _inside(entry.division_path, grant)
        was_in = _inside(entry.previous_path, grant)
        if not (now_in or was_in):
            continue
        matched = True
        classes |= grant.classes
        in_area = in_area or now_in
        crossed = crossed or (bool(entry.previous_path) and now_in != was_in)
    if not matched:
        return None
    changed = [f for f in entry.fields if field_class(entry.record_type, f) in classes]
    lifecycle = "is_active" in entry.fields or crossed
    if not changed and not lifecycle:
        return None
    return {
        "seq": entry.seq,
        "time": entry.time.isoformat(),
        "record_type": entry.record_type,
        "object_id": entry.object_id,
        "action": entry.action,
        "fields": [f for f in entry.fields if f in changed or f in ALWAYS_SHARED],
        "in_area": in_area,
        "data": visible_data(entry.record_type, entry.data, classes),
    }


def read(
    grants: Sequence[Grant],
    *,
    since: int,
    limit: int = DEFAULT_LIMIT,
    types: Iterable[str] | None = None,
) -> Page:
    """One page of the feed after cursor `since` for the holder of `grants`."""
    top = head()  # first: every entry up to it is committed and visible to what follows
    wanted = frozenset(types) if types is not None else None
    page = Page(next=max(since, top), head=top)
    q = _entries_q(grants, wanted)
    if q is None or since >= top:
        return page  # nothing can concern the caller up to the head
    cursor = since
    examined = 0
    while True:
        chunk = list(
            FeedEntry.objects.filter(q, seq__gt=cursor, seq__lte=top).order_by("seq")[:CHUNK]
        )
        for entry in chunk:
            cursor = entry.seq
            examined += 1
            shown = render(entry, grants)
            if shown is None:
                continue
            page.results.append(shown)
            if len(page.results) >= limit:
                page.has_more = _more(q, cursor, top)
                # With nothing left up to the head, the cursor may jump there at once.
                page.next = cursor if page.has_more else top
                return page
        if len(chunk) < CHUNK:
            return page  # read to the head: next = head
        if examined >= MAX_EXAMINED:
            page.next = cursor
            page.has_more = True
            return page


def _more(q: Q, cursor: int, top: int) -> bool:
    return FeedEntry.objects.filter(q, seq__gt=cursor, seq__lte=top).exists()


# --- checking the request ---------------------------------------------------------------------
def parse_types(value: str | None, grants: Sequence[Grant]) -> frozenset[str] | None:
    """The record types asked for (comma-separated), checked against what may be asked."""
    from django.core.exceptions import ValidationError

    if value is None or not value.strip():
        return None
    asked = {t.strip() for t in value.split(",") if t.strip()}
    unknown = sorted(asked - set(RecordType.values))
    if unknown:
        raise ValidationError(
            {
                "types": _("Unknown record type(s): %(types)s. Choose among: %(choices)s.")
                % {"types": ", ".join(unknown), "choices": ", ".join(RecordType.values)}
            }
        )
    subscribed = set().union(*(g.record_types for g in grants)) if grants else set()
    missing = sorted(asked - subscribed)
    if missing:
        raise ValidationError(
            {
                "types": _("Your unit is not subscribed to: %(types)s.")
                % {"types": ", ".join(missing)}
            }
        )
    return frozenset(asked)


def field_class_labels(values: Iterable[str]) -> list[str]:
    labels = dict(FieldClass.choices)
    return [str(labels.get(v, v)) for v in values]


def record_type_labels(values: Iterable[str]) -> list[str]:
    labels = dict(RecordType.choices)
    return [str(labels.get(v, v)) for v in values]
