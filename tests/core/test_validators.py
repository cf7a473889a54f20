"""Identity documents (GB 11643 and the cards sharing its layout), unified social credit codes
(GB 32100) and phone numbers: what people type is accepted and normalised, any one-character
slip is caught, and each refusal names the field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from civicgrid.core.validators import DocumentType, normalise_phone, parse_identity, validate_uscc

TODAY = dt.date(2026, 11, 26)
ID_CHARS = "0123456789X"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Region codes of counties, some renamed or merged since (a card keeps the code of its time).
REGIONS = ["110105", "310104", "440305", "510107", "370602", "371602", "650102", "320102"]


def with_check(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "?")  # it reads all but the last character


def an_id(region: str, born: dt.date, sequence: int) -> str:
    return with_check(f"{region}{born:%Y%m%d}{sequence:03d}")


births = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
valid_ids = st.builds(an_id, st.sampled_from(REGIONS), births, st.integers(0, 999))


def refused(kind: str, value: str, field: str = "id_number") -> str:
    with pytest.raises(ValidationError) as error:
        parse_identity(kind, value, field=field, today=TODAY)
    assert set(error.value.message_dict) == {field}
    return error.value.message_dict[field][0]


@settings(max_examples=200, deadline=None)
@given(valid_ids)
def test_a_valid_id_number_gives_its_birth_date_and_sex(number: str) -> None:
    identity = parse_identity(DocumentType.RESIDENT_ID, number, today=TODAY)
    assert identity.number == number
    assert identity.birth_date == dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert identity.sex == ("M" if int(number[16]) % 2 else "F")


@settings(max_examples=300, deadline=None)
@given(valid_ids, st.integers(0, 17), st.sampled_from(ID_CHARS))
def test_any_one_character_change_of_a_valid_id_is_refused(
    number: str, position: int, char: str
) -> None:
    if number[position] == char:
        return
    changed = number[:position] + char + number[position + 1 :]
    refused(DocumentType.RESIDENT_ID, changed)


@settings(max_examples=100, deadline=None)
@given(valid_ids, st.integers(0, 16))
def test_swapping_two_neighbouring_digits_is_refused(number: str, position: int) -> None:
    a, b = number[position], number[position + 1]
    if a == b:
        return
    swapped = number[:position] + b + a + number[position + 2 :]
    refused(DocumentType.RESIDENT_ID, swapped)


def test_what_people_paste_is_normalised() -> None:
    number = an_id("110105", dt.date(1949, 12, 31), 2)
    assert number.endswith("X")
    pasted = " " + number[:6] + "-" + number[6:14] + " " + number[14:-1] + "x "
    assert parse_identity(DocumentType.RESIDENT_ID, pasted, today=TODAY).number == number
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)  # １１０１０５…Ｘ
    assert parse_identity(DocumentType.RESIDENT_ID, full_width, today=TODAY).number == number


def test_each_mistake_has_its_own_message_naming_the_field() -> None:
    good = an_id("371602", dt.date(1985, 6, 1), 123)
    messages = {
        "": refused(DocumentType.RESIDENT_ID, ""),
        "short": refused(DocumentType.RESIDENT_ID, good[:17]),
        "letters": refused(DocumentType.RESIDENT_ID, "37160219850601A" + good[15:]),
        "check": refused(DocumentType.RESIDENT_ID, good[:17] + ("0" if good[17] != "0" else "1")),
        "province": refused(DocumentType.RESIDENT_ID, with_check("000000" + good[6:17])),
        "future": refused(DocumentType.RESIDENT_ID, an_id("371602", dt.date(2027, 1, 1), 1)),
        "permit": refused(DocumentType.RESIDENT_ID, an_id("810000", dt.date(1990, 1, 1), 1)),
    }
    assert len(set(messages.values())) == len(messages), messages
    with pytest.raises(ValidationError) as error:
        normalise_phone("12", field="reporter_phone")
    assert set(error.value.message_dict) == {"reporter_phone"}


def test_residence_permits_of_hong_kong_macao_and_taiwan_residents() -> None:
    for region in ("810000", "820000", "830000"):
        number = an_id(region, dt.date(1990, 5, 17), 35)
        identity = parse_identity(DocumentType.HKMT_RESIDENCE, number, today=TODAY)
        assert identity.birth_date == dt.date(1990, 5, 17) and identity.sex == "M"
    wrong_region = an_id("440305", dt.date(1990, 5, 17), 35)
    assert "810000" in refused(DocumentType.HKMT_RESIDENCE, wrong_region)
    bad_check = an_id("810000", dt.date(1990, 5, 17), 35)[:17] + "Z"
    refused(DocumentType.HKMT_RESIDENCE, bad_check)


def test_the_2023_foreigners_permanent_residence_id() -> None:
    # 9, issuing province 31, nationality 156-style code 840, birth date, sequence, check.
    number = with_check("931840" + "19800229" + "002")
    identity = parse_identity(DocumentType.FOREIGN_PR, number, today=TODAY)
    assert identity.birth_date == dt.date(1980, 2, 29) and identity.sex == "F"
    assert "9" in refused(DocumentType.FOREIGN_PR, with_check("131840" + "19800229" + "002"))
    refused(DocumentType.FOREIGN_PR, with_check("931840" + "19810229" + "002"))  # no 29 Feb
    # …and it is not a resident ID: the message says which type to choose.
    assert refused(DocumentType.RESIDENT_ID, number) == refused(
        DocumentType.RESIDENT_ID, an_id("820000", dt.date(1990, 1, 1), 1)
    )


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (DocumentType.HK_MACAO_PERMIT, "h 1234 5678", "X12345678"),
        (DocumentType.HK_MACAO_PERMIT, "M1234567801", "M1234567"),
        (DocumentType.TAIWAN_PERMIT, "12345678", "1234567A"),
        (DocumentType.PASSPORT, "e12345678", "E1234-5678!"),
    ],
)
def test_documents_without_a_check_digit_are_checked_for_their_shape(kind, good, bad) -> None:
    assert parse_identity(kind, good, today=TODAY).number == good.replace(" ", "").upper()
    assert "e.g." in refused(kind, bad)


def test_an_unknown_document_type_is_refused() -> None:
    assert refused("driving_licence", "123456") == "Unknown document type."


# Registration authority, category and division code are digits; the organisation code is not.
unified_codes = st.builds(
    lambda head, body: head + body + uscc.calc_check_digit(head + body),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.text(alphabet=USCC_CHARS, min_size=9, max_size=9),
)


@settings(max_examples=200, deadline=None)
@given(unified_codes, st.integers(0, 17), st.sampled_from(USCC_CHARS))
def test_uscc_any_one_character_change_is_refused(code: str, position: int, char: str) -> None:
    assert validate_uscc(code.lower()) == code
    if code[position] == char:
        return
    changed = code[:position] + char + code[position + 1 :]
    with pytest.raises(ValidationError) as error:
        validate_uscc(changed, field="credit_code")
    assert set(error.value.message_dict) == {"credit_code"}


def test_uscc_messages() -> None:
    code = "91110000" + "600037341"
    code += uscc.calc_check_digit(code)
    assert validate_uscc(f" {code[:9]} {code[9:]} ") == code
    for bad in (code[:17], code[:16] + "I" + code[17]):
        with pytest.raises(ValidationError):
            validate_uscc(bad)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("0531-86123456", "+8653186123456"),
        ("", ""),
    ],
)
def test_phone_numbers_are_stored_in_e164(typed: str, stored: str) -> None:
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("typed", ["12345", "138001380001", "phone me", "+86 100"])
def test_bad_phone_numbers_name_the_field(typed: str) -> None:
    with pytest.raises(ValidationError) as error:
        normalise_phone(typed, field="mobile")
    assert set(error.value.message_dict) == {"mobile"}
