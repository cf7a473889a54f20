"""The installation's master key and the keys derived from it.

CIVICGRID_ENCRYPTION_KEY holds 32 random bytes as 64 hexadecimal digits (`civicgrid
generate-key`). Nothing is encrypted with the master key itself: every use (a field cipher, a
blind index) gets its own key derived with HKDF-SHA256 under a purpose label, so that one key
can be rotated or handed to a certified module without touching the others.
"""

from __future__ import annotations

import functools
import secrets
import string

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

MASTER_KEY_BYTES = 32
SETTING = "CIVICGRID_ENCRYPTION_KEY"
# Fixed salt: the master key is already uniformly random, so HKDF's extract step needs no
# secret salt; a constant keeps derivation reproducible across processes and restarts.
_SALT = b"civicgrid/hkdf/v1"
_MAX_DERIVED = 255 * hashes.SHA256.digest_size  # RFC 5869 limit


def generate_master_key() -> str:
    """A fresh random master key, as 64 lowercase hexadecimal digits."""
    return secrets.token_hex(MASTER_KEY_BYTES)


def load_master_key(value: str) -> bytes:
    """The 32 key bytes of a CIVICGRID_ENCRYPTION_KEY value.

    Raises ImproperlyConfigured naming the problem; the message never repeats the value, which
    is a secret even when it is malformed.
    """
    text = (value or "").strip()
    if not text:
        raise ImproperlyConfigured(
            f"{SETTING} is empty: generate one with `civicgrid generate-key`."
        )
    if any(c not in string.hexdigits for c in text):
        raise ImproperlyConfigured(
            f"{SETTING} must be {2 * MASTER_KEY_BYTES} hexadecimal digits (0-9, a-f); it "
            "contains other characters. Generate one with `civicgrid generate-key`."
        )
    if len(text) != 2 * MASTER_KEY_BYTES:
        raise ImproperlyConfigured(
            f"{SETTING} must be {2 * MASTER_KEY_BYTES} hexadecimal digits ({MASTER_KEY_BYTES} "
            f"bytes); it has {len(text)}. Generate one with `civicgrid generate-key`."
        )
    return bytes.fromhex(text)


@functools.lru_cache(maxsize=256)
def derive_key(master: bytes, purpose: str, length: int = 16) -> bytes:
    """A key of `length` bytes for one purpose (e.g. "sm4:resident.id_number"), derived from
    the master key with HKDF-SHA256. Same master and purpose, same key; any other purpose, an
    unrelated key. Cached: an import encrypts millions of values under a handful of keys."""
    if len(master) != MASTER_KEY_BYTES:
        raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes, not {len(master)}")
    if not purpose or not purpose.strip():
        raise ValueError("a derived key needs a purpose label")
    if not 1 <= length <= _MAX_DERIVED:
        raise ValueError(f"a derived key has 1 to {_MAX_DERIVED} bytes, not {length}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode())
    return hkdf.derive(master)


# --- field encryption ---------------------------------------------------------------------------
# Stored form: "v1:" + base64(nonce ‖ ciphertext ‖ tag), SM4-GCM with a 96-bit random nonce and a
# key derived per purpose, so the same phone number encrypts differently every time and a value
# copied from one column does not decrypt under another column's key.
_VERSION = "v1:"


def _master() -> bytes:
    from django.conf import settings

    return _loaded(settings.ENCRYPTION_KEY)


@functools.lru_cache(maxsize=4)
def _loaded(value: str) -> bytes:
    return load_master_key(value)


def encrypt(value: str, purpose: str) -> str:
    import base64

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = derive_key(_master(), f"sm4-gcm:{purpose}", 16)
    nonce = secrets.token_bytes(12)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(purpose.encode())
    body = encryptor.update(value.encode()) + encryptor.finalize()
    return _VERSION + base64.b64encode(nonce + body + encryptor.tag).decode()


def decrypt(token: str, purpose: str) -> str:
    import base64

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not token.startswith(_VERSION):
        raise ValueError("not an encrypted value of a known version")
    raw = base64.b64decode(token[len(_VERSION) :])
    nonce, body, tag = raw[:12], raw[12:-16], raw[-16:]
    key = derive_key(_master(), f"sm4-gcm:{purpose}", 16)
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(purpose.encode())
    return (decryptor.update(body) + decryptor.finalize()).decode()


def blind_index(value: str, purpose: str) -> str:
    """A keyed HMAC-SM3 of a normalised value: equal values match, nothing can be read back."""
    from cryptography.hazmat.primitives import hmac

    key = derive_key(_master(), f"hmac-sm3:{purpose}", 32)
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(value.strip().encode())
    return mac.finalize().hex()


def mask_phone(value: str) -> str:
    """138****5678; short or odd values keep only their last two characters."""
    digits = value.strip()
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]
