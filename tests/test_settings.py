"""Production mode refuses unsafe settings, and `check --deploy` is clean when they are right.
Each case runs the real `civicgrid` command in a subprocess with its own environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from civicgrid.config import settings as real_settings

GOOD = {
    "CIVICGRID_MODE": "production",
    "CIVICGRID_SECRET_KEY": secrets.token_urlsafe(60),
    "CIVICGRID_ENCRYPTION_KEY": secrets.token_hex(32),
    "CIVICGRID_ALLOWED_HOSTS": "grid.example.gov.cn",
}


def civicgrid(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CIVICGRID_")}
    clean.pop("DATABASE_URL", None)
    # Browser tests set this for Playwright's event loop; check --deploy rightly objects to it.
    clean.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    clean["CIVICGRID_VAR_DIR"] = str(tmp_path)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "civicgrid.cli", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_check_deploy_is_clean(tmp_path):
    result = civicgrid("check", "--deploy", "--fail-level", "WARNING", env=GOOD, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CIVICGRID_DEBUG": "1"}, "CIVICGRID_DEBUG must be off"),
        ({"CIVICGRID_SECRET_KEY": ""}, "CIVICGRID_SECRET_KEY must be set"),
        ({"CIVICGRID_SECRET_KEY": "short"}, "at least 50"),
        ({"CIVICGRID_ENCRYPTION_KEY": ""}, "CIVICGRID_ENCRYPTION_KEY must be set"),
        ({"CIVICGRID_ENCRYPTION_KEY": "abc"}, "64 hexadecimal digits"),
        ({"CIVICGRID_ALLOWED_HOSTS": ""}, "CIVICGRID_ALLOWED_HOSTS must be set"),
        ({"CIVICGRID_TILE_CRS": "bd09"}, "CIVICGRID_TILE_CRS"),
    ],
)
def test_production_refuses_to_start(change, message, tmp_path):
    result = civicgrid("check", env={**GOOD, **change}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    # The refusal never echoes the secret values it was given.
    assert GOOD["CIVICGRID_SECRET_KEY"] not in result.stderr
    assert GOOD["CIVICGRID_ENCRYPTION_KEY"] not in result.stderr


def test_argon2_is_the_password_hasher_in_real_settings():
    # Tests switch to a fast hasher (tests/conftest.py); production must use Argon2.
    assert real_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_sqlite_is_configured_for_durable_writes():
    options = real_settings.DATABASES["default"].get("OPTIONS", {})
    if real_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert options["transaction_mode"] == "IMMEDIATE"
        assert "journal_mode=WAL" in options["init_command"]
        assert "synchronous=FULL" in options["init_command"]


def test_the_access_log_never_holds_query_strings() -> None:
    """A search by ID or phone number travels in `?q=`: the production server logs paths only."""
    from civicgrid.web.management.commands.serve import gunicorn_command

    command = gunicorn_command("127.0.0.1", 8000, 1, 1)
    log_format = command[command.index("--access-logformat") + 1]
    assert "%(U)s" in log_format
    for with_query in ("%(r)s", "%(q)s", "%(f)s"):
        assert with_query not in log_format
