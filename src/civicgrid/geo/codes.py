"""Statistical division codes (GB/T 2260 and the NBS 12-digit tables) and grid codes.

Canonical codes: province/city/county 6 digits, township 9, community/village 12, grid 15
(community code + 3-digit serial). The national tables pad every level to 12 digits with zeros;
`normalize` accepts both forms. A path is the significant prefix (2/4/6/9/12/15 digits).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .choices import CODE_LENGTH, PATH_LENGTH, Level

LEVEL_ALIASES: dict[str, int] = {
    "province": 1,
    "省": 1,
    "省级": 1,
    "city": 2,
    "市": 2,
    "地级": 2,
    "地级市": 2,
    "prefecture": 2,
    "county": 3,
    "district": 3,
    "县": 3,
    "区": 3,
    "县区": 3,
    "县级": 3,
    "township": 4,
    "town": 4,
    "street": 4,
    "乡镇": 4,
    "街道": 4,
    "乡": 4,
    "镇": 4,
    "乡镇街道": 4,
    "community": 5,
    "village": 5,
    "社区": 5,
    "村": 5,
    "村居": 5,
    "社区/村": 5,
    "grid": 6,
    "网格": 6,
}


def parse_level(value: str) -> int:
    text = (value or "").strip().lower()
    if text.isdigit() and 1 <= int(text) <= 6:
        return int(text)
    if text in LEVEL_ALIASES:
        return LEVEL_ALIASES[text]
    raise ValidationError(
        _(
            "Unknown level “%(value)s”: use 1–6 or province, city, county, township, "
            "community, grid."
        )
        % {"value": value},
        code="level",
    )


def infer_level(code: str) -> int:
    """Level implied by a code's shape (used when a file leaves the level column empty)."""
    digits = code.strip()
    if len(digits) == 15:
        return Level.GRID
    if len(digits) == 12 and not digits.endswith("000"):
        return Level.COMMUNITY
    if len(digits) == 12:
        digits = digits[:9]
    if len(digits) == 9 and not digits.endswith("000"):
        return Level.TOWNSHIP
    if len(digits) == 9:
        digits = digits[:6]
    if len(digits) == 6:
        if digits.endswith("0000"):
            return Level.PROVINCE
        if digits.endswith("00"):
            return Level.CITY
        return Level.COUNTY
    raise ValidationError(_("Cannot tell the level of code “%(code)s”.") % {"code": code})


def normalize(code: str, level: int) -> str:
    """Canonical form of `code` at `level`, or ValidationError naming what is wrong."""
    raw = (code or "").strip()
    if not raw:
        raise ValidationError(_("The code is empty."), code="code")
    if not raw.isdigit() or not raw.isascii():
        raise ValidationError(_("The code must contain digits only."), code="code")
    length = CODE_LENGTH[level]
    if len(raw) > length:
        if len(raw) == 12 and level <= Level.TOWNSHIP and set(raw[length:]) == {"0"}:
            raw = raw[:length]
        else:
            raise ValidationError(
                _("A %(level)s code has %(n)d digits; “%(code)s” has %(m)d.")
                % {"level": Level(level).label, "n": length, "code": raw, "m": len(raw)},
                code="code",
            )
    if len(raw) != length:
        raise ValidationError(
            _("A %(level)s code has %(n)d digits; “%(code)s” has %(m)d.")
            % {"level": Level(level).label, "n": length, "code": raw, "m": len(raw)},
            code="code",
        )
    ok = {
        Level.PROVINCE: raw[2:] == "0000" and raw[:2] != "00",
        Level.CITY: raw[4:] == "00" and raw[2:4] != "00",
        Level.COUNTY: raw[4:] != "00",
        Level.TOWNSHIP: raw[6:] != "000",
        Level.COMMUNITY: raw[9:] != "000" and raw[6:9] != "000",
        Level.GRID: raw[12:] != "000" and raw[9:12] != "000" and raw[6:9] != "000",
    }[Level(level)]
    if not ok:
        raise ValidationError(
            _("“%(code)s” is not a valid %(level)s code.")
            % {"code": raw, "level": Level(level).label},
            code="code",
        )
    return raw


def path_of(code: str, level: int) -> str:
    return code[: PATH_LENGTH[level]]


# Digits of a canonical code that number the division within each level above it.
SEGMENTS: dict[int, tuple[int, int]] = {
    Level.CITY: (2, 4),
    Level.COUNTY: (4, 6),
    Level.TOWNSHIP: (6, 9),
    Level.COMMUNITY: (9, 12),
}


def check_parent(code: str, level: int, parent_code: str | None, parent_level: int | None) -> None:
    """A child lies under its parent: lower level, and its path extends the parent's."""
    if parent_code is None or parent_level is None:
        if level != Level.PROVINCE:
            raise ValidationError(_("Only a province may have no parent."), code="parent_code")
        return
    if parent_level >= level:
        raise ValidationError(
            _("The parent (%(parent)s) must be above a %(level)s.")
            % {"parent": Level(parent_level).label, "level": Level(level).label},
            code="parent_code",
        )
    if level == Level.GRID and parent_level != Level.COMMUNITY:
        raise ValidationError(
            _("A grid's parent must be a community or village."), code="parent_code"
        )
    if not path_of(code, level).startswith(path_of(parent_code, parent_level)):
        raise ValidationError(
            _("Code %(code)s does not lie under parent %(parent)s.")
            % {"code": code, "parent": parent_code},
            code="parent_code",
        )
    # A division that skips a level (a township straight under a city such as 东莞 441900003)
    # carries zeros for the level it skips; otherwise its path would fall inside a sibling
    # subtree (371602001 under 371600 would be inside 滨城区 371602 for every range query).
    # Counties administered directly by a province (省直辖县, 429004 仙桃) are the exception:
    # their city digits are not zeros.
    for skipped in range(parent_level + 1, level):
        if skipped == Level.CITY and level == Level.COUNTY:
            continue
        start, end = SEGMENTS[skipped]
        if code[start:end].strip("0"):
            skipped_code = code[:end].ljust(CODE_LENGTH[skipped], "0")
            raise ValidationError(
                _(
                    "Code %(code)s lies under the %(skipped)s %(skipped_code)s, not directly "
                    "under %(parent)s: attach it to that %(skipped)s."
                )
                % {
                    "code": code,
                    "skipped": Level(skipped).label,
                    "skipped_code": skipped_code,
                    "parent": parent_code,
                },
                code="parent_code",
            )


def is_rural_community(community_code: str) -> bool:
    """Village committees carry 200–399 in the last three digits (statistical convention)."""
    serial = community_code[9:12]
    return len(serial) == 3 and serial.isdigit() and 200 <= int(serial) <= 399
