"""Sensitive numbers of the registry: encrypted, blind-indexed and masked in one place.

A stored number is three columns: `…_enc` (SM4-GCM, core.crypto), `…_index` (keyed HMAC-SM3 of
the normalised value, for exact lookup and the one-person-per-ID rule) and `…_masked` (what
pages, the API, exports and logs show). Reading the clear value is `reveal`, which only the
unmask actions call, after logging the access.
"""

from __future__ import annotations

from typing import Any

from civicgrid.core import crypto

ID_PURPOSE = "registry.id_number"
PHONE_PURPOSE = "registry.phone"


def mask_id(number: str) -> str:
    """3301**********123X: the place of issue and the last digits stay readable (enough to tell
    two people apart on a list), the birth date never."""
    if len(number) >= 10:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    return number[:1] + "*" * max(0, len(number) - 3) + number[-2:]


def mask_phone(phone: str) -> str:
    return crypto.mask_phone(phone.removeprefix("+86")) if phone else ""


def id_columns(number: str) -> dict[str, str]:
    """The three columns of a normalised document number ("" clears them)."""
    if not number:
        return {"id_enc": "", "id_index": "", "id_masked": ""}
    return {
        "id_enc": crypto.encrypt(number, ID_PURPOSE),
        "id_index": id_index(number),
        "id_masked": mask_id(number),
    }


def phone_columns(phone: str) -> dict[str, str]:
    """The three columns of a phone number in E.164 ("" clears them)."""
    if not phone:
        return {"phone_enc": "", "phone_index": "", "phone_masked": ""}
    return {
        "phone_enc": crypto.encrypt(phone, PHONE_PURPOSE),
        "phone_index": phone_index(phone),
        "phone_masked": mask_phone(phone),
    }


def id_index(number: str) -> str:
    return crypto.blind_index(number, ID_PURPOSE)


def phone_index(phone: str) -> str:
    return crypto.blind_index(phone, PHONE_PURPOSE)


def reveal(obj: Any, field: str) -> str:
    """The clear value of `id_number` or `phone` of a record. Callers log the access first."""
    if field == "id_number":
        token, purpose = getattr(obj, "id_enc", ""), ID_PURPOSE
    elif field == "phone":
        token, purpose = getattr(obj, "phone_enc", ""), PHONE_PURPOSE
    else:
        raise ValueError(f"not a protected field: {field}")
    return crypto.decrypt(token, purpose) if token else ""
