"""Division paths: the significant digits of a statistical code (DOMAIN.md §2).

A child's path always starts with its parent's, so "everything under 371602" is the half-open
range [371602, 371603) on an indexed column — the same query plan on SQLite and PostgreSQL,
whatever the column's collation, because paths hold digits only.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q


def path_upper_bound(path: str) -> str | None:
    """The smallest string greater than every string that starts with `path`."""
    stripped = path.rstrip("9")
    if not stripped:
        return None
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


def subtree_q(field: str, path: str) -> Q:
    upper = path_upper_bound(path)
    q = Q(**{f"{field}__gte": path})
    if upper is not None:
        q &= Q(**{f"{field}__lt": upper})
    return q


def minimal_prefixes(paths: Iterable[str]) -> list[str]:
    """Drop every path that lies under another one in the set."""
    result: list[str] = []
    for path in sorted(set(paths)):
        if not result or not path.startswith(result[-1]):
            result.append(path)
    return result


def any_subtree_q(field: str, paths: Iterable[str]) -> Q | None:
    """OR of subtree ranges; None when there are no paths (which must mean: nothing)."""
    q: Q | None = None
    for path in minimal_prefixes(paths):
        part = subtree_q(field, path)
        q = part if q is None else q | part
    return q


def is_under(path: str, ancestor: str) -> bool:
    return path.startswith(ancestor)
