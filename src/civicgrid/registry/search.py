"""Finding people, organisations and places by name, pinyin, initials or address.

Each record gets search terms (SearchTerm rows):
- "n:" + each character of its name, and each pair of neighbouring characters;
- "p:" + its full pinyin from each syllable on ("zhangxiaoming", "xiaoming", "ming"), matched
  by prefix, and "i:" + its initials ("zxm"), matched by prefix;
- "a:" + each pair of neighbouring characters of its address. People are found by address
  through their building's terms (a building's address is indexed once, not once per
  resident), organisations and places through their own.
A query of two or more Chinese characters must match all its pairs (then the name must contain
the query, which removes pairs met in the wrong order), one character its character. Plain
B-tree lookups on one table: the same results on SQLite and PostgreSQL, and two-character names
work, which trigram indexes miss.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet

from .models import SearchTerm

MAX_TERM = 40
# Readings of a surname or given-name character that has several (单 dan/shan, 曾 zeng/ceng):
# every combination is indexed, up to this many per name.
MAX_READINGS = 8
# Records (buildings, for people) an address query may match; a query matching more is too
# vague to be an address ("路") and finds by name only beyond this.
MAX_ADDRESS_MATCHES = 5000
# Name matches fetched as a list of ids before the records themselves (see match_q).
MAX_LISTED_MATCHES = 2000
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().lower()


def _pairs(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1)]


def _readings(name: str) -> list[list[str]]:
    from pypinyin import Style, pinyin

    per_char = pinyin(name, style=Style.NORMAL, heteronym=True, errors="ignore", v_to_u=False)
    options = [sorted({r.replace("ü", "v") for r in readings})[:3] for readings in per_char]
    return [list(c) for c in itertools.islice(itertools.product(*options), MAX_READINGS)]


def name_terms(name: str) -> set[str]:
    text = re.sub(r"\s+", "", normalise(name))
    if not text:
        return set()
    terms = {f"n:{c}" for c in text} | {f"n:{p}" for p in _pairs(text)}
    if _HAN.search(text):
        for syllables in _readings(text):
            if not syllables:
                continue
            for i in range(len(syllables)):
                terms.add("p:" + "".join(syllables[i:]))
            terms.add("i:" + "".join(s[0] for s in syllables))
    else:
        terms.add("p:" + re.sub(r"[^a-z0-9]", "", text))
    return {t[:MAX_TERM] for t in terms if len(t) > 2}


def address_terms(address: str) -> set[str]:
    text = re.sub(r"\s+", "", normalise(address))
    return {f"a:{p}"[:MAX_TERM] for p in _pairs(text)}


def terms_for(name: str, address: str = "") -> set[str]:
    return name_terms(name) | address_terms(address)


def index_rows(kind: str, object_id: int, path: str, terms: Iterable[str]) -> list[SearchTerm]:
    return [SearchTerm(kind=kind, object_id=object_id, term=t, division_path=path) for t in terms]


def reindex(kind: str, object_id: int, path: str, terms: Iterable[str]) -> None:
    """Replace a record's terms (called by the actions that write the record)."""
    SearchTerm.objects.filter(kind=kind, object_id=object_id).delete()
    SearchTerm.objects.bulk_create(index_rows(kind, object_id, path, set(terms)))


def match_q(
    kind: str,
    query: str,
    *,
    name_field: str | None = "name",
    address_via: tuple[str, str] | None = None,
) -> Q | None:
    """A filter on a model's `pk` for records whose terms match `query`; None when the query
    gives nothing to search by (not Chinese, not letters). `address_via` = (kind, lookup)
    finds records by the address terms of a related record instead of their own, e.g.
    ("building", "house__building") for residents."""
    text = re.sub(r"\s+", "", normalise(query))
    if not text:
        return None
    terms = SearchTerm.objects.filter(kind=kind)
    if _HAN.search(text):
        wanted = sorted(set(_pairs(text) or [text]))
        q = Q(pk__in=[])
        if name_field is not None:
            by_name = _all_of(terms.filter(term__in=[f"n:{w}" for w in wanted]), len(wanted))
            # A name matches few people, usually: their ids as a list let the database fetch
            # them by key and sort a handful, where a subquery plan may walk the whole table
            # in list order looking for them. A common surname alone keeps the subquery.
            few = list(by_name[: MAX_LISTED_MATCHES + 1])
            ids: Any = few if len(few) <= MAX_LISTED_MATCHES else by_name
            # All pairs present does not mean in the typed order (小明明小 holds 明小 and 小明):
            # the name must also contain the query as typed.
            q = Q(pk__in=ids) & Q(**{f"{name_field}__contains": text})
        if len(text) >= 2:
            address_kind, lookup = address_via or (kind, "pk")
            # Looked up first, as a list: few records match an address, usually none for a
            # name, and an OR with a subquery through a join would make PostgreSQL scan every
            # resident (1.8 s at a million) where the name alone is an index lookup.
            by_address = list(
                _all_of(
                    SearchTerm.objects.filter(
                        kind=address_kind, term__in=[f"a:{w}" for w in wanted]
                    ),
                    len(wanted),
                )[:MAX_ADDRESS_MATCHES]
            )
            if by_address:
                q |= Q(**{f"{lookup}__in": by_address})
        return q
    if re.fullmatch(r"[a-z]+", text):
        ids = (
            terms.filter(Q(term__startswith=f"p:{text}") | Q(term__startswith=f"i:{text}"))
            .values_list("object_id", flat=True)
            .distinct()
        )
        return Q(pk__in=ids)
    return None


def _all_of(terms: QuerySet[SearchTerm], count: int) -> QuerySet[Any]:
    return (
        terms.values("object_id")
        .annotate(hits=Count("id"))
        .filter(hits__gte=count)
        .values_list("object_id", flat=True)
    )
