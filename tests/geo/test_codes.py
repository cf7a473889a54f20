"""Division codes: canonical forms, levels, parents, paths (no database needed)."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.geo import codes
from civicgrid.geo.choices import Level

P, C, X, T, M, G = (
    Level.PROVINCE,
    Level.CITY,
    Level.COUNTY,
    Level.TOWNSHIP,
    Level.COMMUNITY,
    Level.GRID,
)


@pytest.mark.parametrize(
    ("raw", "level", "expected"),
    [
        ("370000", P, "370000"),
        ("371600", C, "371600"),
        ("371602", X, "371602"),
        ("371602001", T, "371602001"),
        ("371602001001", M, "371602001001"),
        ("371602001001001", G, "371602001001001"),
        # the national statistics tables pad province … township to 12 digits
        ("370000000000", P, "370000"),
        ("371600000000", C, "371600"),
        ("371602000000", X, "371602"),
        ("371602001000", T, "371602001"),
        (" 371602 ", X, "371602"),
    ],
)
def test_normalize_accepts_canonical_and_padded_forms(raw: str, level: int, expected: str) -> None:
    assert codes.normalize(raw, level) == expected


@pytest.mark.parametrize(
    ("raw", "level", "message"),
    [
        ("37160", X, "has 5"),
        ("3716020", X, "has 7"),
        ("3716020011", T, "has 10"),
        ("371602001", X, "has 9"),
        ("37160200100", M, "has 11"),
        ("3716020010010", M, "has 13"),
        ("3716020010010011", G, "has 16"),
        ("371602001001", T, "has 12"),  # padded form, but the tail is not zeros
        ("", X, "empty"),
        ("37160a", X, "digits only"),
        ("371-02", X, "digits only"),
        ("３７１６０２", X, "digits only"),  # full-width digits
        ("371602\u0661", M, "digits only"),  # an Arabic-Indic digit is a digit, not ASCII
        ("000000", P, "not a valid"),
        ("370000", C, "not a valid"),
        ("371600", X, "not a valid"),
        ("371602000", T, "not a valid"),
        ("371602001000", M, "not a valid"),
        ("371602000001", M, "not a valid"),
        ("371602001001000", G, "not a valid"),
        ("371602001000001", G, "not a valid"),
        ("371602000001001", G, "not a valid"),
    ],
)
def test_normalize_rejects(raw: str, level: int, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        codes.normalize(raw, level)
    assert message in info.value.messages[0]


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("370000", P),
        ("371600", C),
        ("371602", X),
        ("371602001", T),
        ("441900003", T),
        ("371602001001", M),
        ("371602001001001", G),
        ("370000000000", P),
        ("371600000000", C),
        ("371602000000", X),
        ("371602001000", T),
    ],
)
def test_infer_level(code: str, level: int) -> None:
    assert codes.infer_level(code) == level


@pytest.mark.parametrize("code", ["", "37", "3716", "1234567", "12345678901"])
def test_infer_level_rejects_lengths_no_level_has(code: str) -> None:
    with pytest.raises(ValidationError):
        codes.infer_level(code)


@pytest.mark.parametrize(
    ("code", "level", "parent", "parent_level"),
    [
        ("370000", P, None, None),
        ("371600", C, "370000", P),
        ("371602", X, "371600", C),
        ("429004", X, "420000", P),  # 仙桃: a county administered directly by the province
        ("371602001", T, "371602", X),
        ("441900003", T, "441900", C),  # 东莞: townships directly under a city
        ("371602001001", M, "371602001", T),
        ("371602001001001", G, "371602001001", M),
    ],
)
def test_check_parent_accepts(
    code: str, level: int, parent: str | None, parent_level: int | None
) -> None:
    codes.check_parent(code, level, parent, parent_level)


@pytest.mark.parametrize(
    ("code", "level", "parent", "parent_level", "message"),
    [
        ("371600", C, None, None, "Only a province"),
        ("370000", P, "370000", P, "must be above"),
        ("371602", X, "371602", X, "must be above"),
        ("371602001001001", G, "371602001", T, "community or village"),
        ("381602", X, "370000", P, "does not lie under"),
        ("371602001", T, "371603", X, "does not lie under"),
        # a township whose code says 滨城区 371602 cannot hang directly under the city: range
        # queries on 371602 would find it while the tree would not
        ("371602001", T, "371600", C, "371602"),
        ("371602001001", M, "371602", X, "371602001"),
    ],
)
def test_check_parent_rejects(
    code: str, level: int, parent: str | None, parent_level: int | None, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        codes.check_parent(code, level, parent, parent_level)
    assert message in info.value.messages[0]


@pytest.mark.parametrize(
    ("code", "level", "path"),
    [
        ("370000", P, "37"),
        ("371600", C, "3716"),
        ("371602", X, "371602"),
        ("371602001", T, "371602001"),
        ("371602001001", M, "371602001001"),
        ("371602001001001", G, "371602001001001"),
    ],
)
def test_path_of(code: str, level: int, path: str) -> None:
    assert codes.path_of(code, level) == path


@pytest.mark.parametrize(
    ("code", "rural"),
    [
        ("371603001201", True),
        ("371603001399", True),
        ("371603001201001", True),  # a grid code: its community's digits decide
        ("371602001001", False),
        ("371602001199", False),
        ("371602001400", False),
        ("371602", False),
        ("37160200120x", False),
    ],
)
def test_is_rural_community(code: str, rural: bool) -> None:
    assert codes.is_rural_community(code) is rural


@pytest.mark.parametrize(("text", "level"), [("3", 3), ("街道", 4), ("Grid", 6), (" 村 ", 5)])
def test_parse_level(text: str, level: int) -> None:
    assert codes.parse_level(text) == level


@pytest.mark.parametrize("text", ["0", "7", "hamlet", ""])
def test_parse_level_rejects(text: str) -> None:
    with pytest.raises(ValidationError, match="level"):
        codes.parse_level(text)


def _two(low: int = 1) -> st.SearchStrategy[str]:
    return st.integers(low, 99).map(lambda n: f"{n:02d}")


def _three() -> st.SearchStrategy[str]:
    return st.integers(1, 999).map(lambda n: f"{n:03d}")


@given(st.integers(11, 82).map(str), _two(), _two(), _three(), _three(), _three())
def test_every_valid_chain_nests(
    province: str, city: str, county: str, township: str, community: str, grid: str
) -> None:
    chain = [
        (province + "0000", P),
        (province + city + "00", C),
        (province + city + county, X),
        (province + city + county + township, T),
        (province + city + county + township + community, M),
        (province + city + county + township + community + grid, G),
    ]
    for code, level in chain:
        assert codes.normalize(code, level) == code
        assert codes.infer_level(code) == level
    for code, level in chain[:4]:
        assert codes.normalize(code.ljust(12, "0"), level) == code
    for (parent, parent_level), (child, level) in itertools.pairwise(chain):
        codes.check_parent(child, level, parent, parent_level)
    grid_path = codes.path_of(*chain[-1])
    for code, level in chain[:-1]:
        assert grid_path.startswith(codes.path_of(code, level))


@given(st.text(max_size=18), st.sampled_from(list(Level)))
def test_normalize_fails_only_with_validation_errors(text: str, level: Level) -> None:
    try:
        code = codes.normalize(text, level)
    except ValidationError:
        return
    assert code.isascii()
    assert code.isdigit()
    assert len(code) == {P: 6, C: 6, X: 6, T: 9, M: 12, G: 15}[level]
