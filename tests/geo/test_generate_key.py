"""`civicgrid generate-key` and core.crypto's key loading and derivation.

(These belong in tests/core; they live here because this change owns tests/geo only.)
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.core.exceptions import ImproperlyConfigured

from civicgrid.core import crypto

from .helpers import run

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def test_generate_key_prints_a_loadable_random_key() -> None:
    first, second = run("generate_key"), run("generate_key")
    assert first.ok
    assert second.ok
    key = first.out.strip()
    assert first.out == key + "\n"  # only the key, for $(civicgrid generate-key)
    assert len(key) == 64
    assert all(c in "0123456789abcdef" for c in key)
    assert len(crypto.load_master_key(key)) == 32
    assert second.out.strip() != key


@pytest.mark.parametrize("value", [KEY, KEY.upper(), f"  {KEY}\n"])
def test_load_master_key(value: str) -> None:
    assert crypto.load_master_key(value) == bytes.fromhex(KEY)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (KEY[:-1], "it has 63"),
        (KEY + "00", "it has 66"),
        (KEY[:32], "it has 32"),
        ("g" + KEY[1:], "other characters"),
        ("0x" + KEY[2:], "other characters"),
        (KEY[:32] + " " + KEY[33:], "other characters"),
    ],
)
def test_load_master_key_rejects(value: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        crypto.load_master_key(value)
    text = str(info.value)
    assert message in text
    assert "CIVICGRID_ENCRYPTION_KEY" in text
    assert "generate-key" in text
    if value.strip():
        assert value.strip()[4:20] not in text  # a secret, even malformed, is never echoed


def rfc5869(master: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 written out from RFC 5869, as an independent check."""
    prk = hmac.new(salt, master, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_derive_key() -> None:
    master = bytes.fromhex(KEY)
    key = crypto.derive_key(master, "sm4:resident.id_number")
    assert len(key) == 16
    assert key == rfc5869(master, b"civicgrid/hkdf/v1", b"sm4:resident.id_number", 16)
    assert crypto.derive_key(master, "sm4:resident.id_number") == key
    assert crypto.derive_key(master, "hmac:resident.id_number") != key
    assert crypto.derive_key(bytes(32), "sm4:resident.id_number") != key
    long = crypto.derive_key(master, "blind-index", length=64)
    assert len(long) == 64
    assert long == rfc5869(master, b"civicgrid/hkdf/v1", b"blind-index", 64)


@pytest.mark.parametrize(
    ("master", "purpose", "length", "message"),
    [
        (bytes(16), "x", 16, "32 bytes"),
        (bytes(32), "", 16, "purpose"),
        (bytes(32), "  ", 16, "purpose"),
        (bytes(32), "x", 0, "1 to 8160"),
        (bytes(32), "x", 8161, "1 to 8160"),
    ],
)
def test_derive_key_rejects(master: bytes, purpose: str, length: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crypto.derive_key(master, purpose, length)
