"""Identity documents, organisation codes and phone numbers, validated and normalised in one
place for every app (registry records, case reporters, imports).

Errors are Django ValidationErrors keyed by the caller's field name, so that a page, the API
and an import report name the field the person typed into.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc


class DocumentType(models.TextChoices):
    RESIDENT_ID = "resident_id", gettext_lazy("Resident identity card")
    HKMT_RESIDENCE = (
        "hkmt_residence",
        gettext_lazy("Residence permit for Hong Kong, Macao and Taiwan residents"),
    )
    FOREIGN_PR = "foreign_pr", gettext_lazy("Foreigner's permanent residence ID card")
    HK_MACAO_PERMIT = (
        "hk_macao_permit",
        gettext_lazy("Mainland travel permit for Hong Kong and Macao residents"),
    )
    TAIWAN_PERMIT = "taiwan_permit", gettext_lazy("Mainland travel permit for Taiwan residents")
    PASSPORT = "passport", gettext_lazy("Passport")


@dataclass(frozen=True)
class Identity:
    """A validated document number, and what the number itself says about its holder."""

    kind: str
    number: str
    birth_date: dt.date | None = None
    sex: str | None = None  # "M" or "F" where the number encodes it


# The residence permits of 2018 use the card's layout with these "regions" (GB 11643 rules).
HKMT_REGIONS = {"810000": "Hong Kong", "820000": "Macao", "830000": "Taiwan"}
EARLIEST_BIRTH = dt.date(1900, 1, 1)
# GB/T 2260 provinces, autonomous regions and municipalities (first two digits).
PROVINCES = frozenset(
    str(code)
    for first, last in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65))
    for code in range(first, last + 1)
)
# Documents without a check digit: the shape of the number, and an example for the message.
FREE_FORMATS: dict[DocumentType, tuple[str, str]] = {
    # H or M, eight digits, and on some cards two more (the renewal count).
    DocumentType.HK_MACAO_PERMIT: (r"[HM]\d{8}(\d{2})?", "H12345678"),
    DocumentType.TAIWAN_PERMIT: (r"\d{8}", "12345678"),
    DocumentType.PASSPORT: (r"[A-Z0-9]{5,20}", "E12345678"),
}


def compact(value: str) -> str:
    """What people paste: full-width digits, spaces, hyphens, a lower-case x."""
    text = unicodedata.normalize("NFKC", value or "")
    return re.sub(r"[\s\-]", "", text).upper()


def parse_identity(
    kind: str, value: str, *, field: str = "id_number", today: dt.date | None = None
) -> Identity:
    """Validate a document number of the given type; returns it normalised, with the birth
    date and sex the number encodes. Raises ValidationError({field: …}) otherwise."""
    number = compact(value)
    if not number:
        raise ValidationError({field: _("Enter the document number.")})
    if kind not in DocumentType.values:
        raise ValidationError({field: _("Unknown document type.")})
    today = today or timezone.localdate()
    if kind == DocumentType.RESIDENT_ID:
        return _resident_id(number, field, today)
    if kind in (DocumentType.HKMT_RESIDENCE, DocumentType.FOREIGN_PR):
        return _card_layout(kind, number, field, today)
    pattern, example = FREE_FORMATS[DocumentType(kind)]
    if not re.fullmatch(pattern, number):
        raise ValidationError(
            {field: _("Not a valid number for this document (e.g. %(ex)s).") % {"ex": example}}
        )
    return Identity(kind, number)


def _resident_id(number: str, field: str, today: dt.date) -> Identity:
    if number[:2] in {"81", "82", "83"} or number[:1] == "9":
        raise ValidationError(
            {
                field: _(
                    "This is a residence permit or a foreigner's ID number: choose that "
                    "document type."
                )
            }
        )
    if len(number) != 18:
        raise ValidationError({field: _("An ID number has 18 characters.")})
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValidationError({field: _("An ID number is 17 digits and a last digit or X.")})
    _check_digit(number, field)
    # Only the province is checked: county codes change over the years and a card keeps the
    # code of its time, so a list of today's (or any library's) counties would refuse real
    # people.
    if number[:2] not in PROVINCES:
        raise ValidationError(
            {field: _("The first two digits of an ID number are a province code.")}
        )
    return _with_birth(DocumentType.RESIDENT_ID, number, field, today)


def _card_layout(kind: str, number: str, field: str, today: dt.date) -> Identity:
    """The 18-character layout with GB 11643's check digit: the 2018 residence permits of
    Hong Kong, Macao and Taiwan residents (region 810000/820000/830000) and the 2023
    foreigner's permanent residence ID card (9, province, nationality code, birth date,
    sequence, check digit)."""
    if len(number) != 18 or not number[:17].isdigit():
        raise ValidationError({field: _("This document number has 17 digits and a check digit.")})
    if kind == DocumentType.HKMT_RESIDENCE and number[:6] not in HKMT_REGIONS:
        raise ValidationError(
            {field: _("A residence permit number starts with 810000, 820000 or 830000.")}
        )
    if kind == DocumentType.FOREIGN_PR and number[0] != "9":
        raise ValidationError(
            {field: _("A foreigner's permanent residence ID number starts with 9.")}
        )
    _check_digit(number, field)
    return _with_birth(kind, number, field, today)


def _check_digit(number: str, field: str) -> None:
    """GB 11643's ISO 7064 MOD 11-2 check digit: catches any one mistyped character and any
    swap of neighbours."""
    if number[17] != ric.calc_check_digit(number):
        raise ValidationError(
            {field: _("The check digit does not match: a character is mistyped.")}
        )


def _with_birth(kind: str, number: str, field: str, today: dt.date) -> Identity:
    """The identity, with the birth date (digits 7–14) and sex (digit 17) the number holds."""
    digits = number[6:14]
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise ValidationError({field: _("The birth date in this number does not exist.")}) from exc
    if not EARLIEST_BIRTH <= born <= today:
        raise ValidationError(
            {field: _("The birth date in this number lies in the future or before 1900.")}
        )
    return Identity(kind, number, born, "M" if int(number[16]) % 2 else "F")


def validate_uscc(value: str, *, field: str = "uscc") -> str:
    """A unified social credit code (GB 32100: 18 characters with a check character)."""
    number = compact(value)
    try:
        return str(uscc.validate(number))
    except stdnum_errors.InvalidLength as exc:
        raise ValidationError(
            {field: _("A unified social credit code has 18 characters.")}
        ) from exc
    except stdnum_errors.InvalidChecksum as exc:
        raise ValidationError(
            {field: _("The check character does not match: a character is mistyped.")}
        ) from exc
    except stdnum_errors.ValidationError as exc:
        raise ValidationError(
            {
                field: _(
                    "Not a unified social credit code (digits and capital letters other than "
                    "I, O, Z, S and V)."
                )
            }
        ) from exc


def normalise_phone(value: str, *, field: str = "phone") -> str:
    """A mobile or landline number (mainland numbers without +86 too), in E.164; "" if empty."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError({field: _("Not a phone number.")}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({field: _("Not a valid phone number.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
