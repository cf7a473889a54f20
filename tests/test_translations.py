"""The Simplified Chinese catalogue: complete, faithful to its placeholders, up to date with the
code, and what the pages speak by default (English only when the user chose it)."""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings

import civicgrid

PACKAGE_DIR = Path(civicgrid.__file__).resolve().parent
LOCALE = "zh_Hans"
PO_FILE = PACKAGE_DIR / "locale" / LOCALE / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
# The options of the documented makemessages command (the demo's Chinese place names are data).
MAKEMESSAGES = [
    "makemessages",
    "-l",
    LOCALE,
    "--no-obsolete",
    "--ignore",
    "static/*",
    "--ignore",
    "demo/*",
]

# printf-style conversions (named or not), Django template variables and str.format fields.
PLACEHOLDER = re.compile(
    r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"
    r"|%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"
    r"|\{\{.*?\}\}"
    r"|\{\w*\}"
)
TAG = re.compile(r"</?[A-Za-z][^<>]*>")


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    def describe(self) -> str:
        context = f" (context {self.msgctxt!r})" if self.msgctxt else ""
        return f"line {self.line}: {self.msgid!r}{context}"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"not a quoted PO string: {text}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def read_po(path: Path) -> list[Entry]:
    """The entries of a PO file (obsolete `#~` entries left out); the header is the entry whose
    msgid is empty."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            current, target = None, None
            continue
        if line.startswith("#~"):
            continue
        if current is None:
            current = Entry()
            entries.append(current)
        if line.startswith("#,"):
            current.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            assert target is not None, f"{path}:{number}: continuation without a keyword"
            name, index = target
            if index is None:
                setattr(current, name, getattr(current, name) + _unquote(line))
            else:
                current.msgstr[index] += _unquote(line)
        else:
            match = _KEYWORD.match(line)
            assert match, f"{path}:{number}: cannot read {raw!r}"
            keyword, index, value = match.group(1), match.group(2), _unquote(match.group(3))
            if keyword.startswith("msgstr"):
                position = int(index) if index is not None else 0
                current.msgstr[position] = value
                target = ("msgstr", position)
            else:
                setattr(current, keyword, value)
                target = (keyword, None)
                if keyword == "msgid":
                    current.line = number
    return [e for e in entries if e.msgid or e.msgstr]


def messages(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.msgid]


def header(entries: list[Entry]) -> Entry:
    found = [e for e in entries if not e.msgid]
    assert len(found) == 1, "the catalogue has no (or more than one) header entry"
    return found[0]


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    assert PO_FILE.exists(), f"{PO_FILE} is missing"
    return read_po(PO_FILE)


def test_header_declares_simplified_chinese_with_one_plural_form(catalogue: list[Entry]) -> None:
    head = header(catalogue)
    text = head.msgstr[0]
    assert "fuzzy" not in head.flags, "a fuzzy header makes msgfmt ignore it (and its charset)"
    assert f"Language: {LOCALE}\n" in text
    assert "Content-Type: text/plain; charset=UTF-8\n" in text
    assert "Plural-Forms: nplurals=1; plural=0;\n" in text


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue: list[Entry]) -> None:
    entries = messages(catalogue)
    assert len(entries) > 100
    untranslated = [e.describe() for e in entries if not e.msgstr.get(0, "").strip()]
    fuzzy = [e.describe() for e in entries if "fuzzy" in e.flags]
    report = []
    if untranslated:
        report.append("untranslated in django.po:\n  " + "\n  ".join(untranslated))
    if fuzzy:
        report.append("fuzzy in django.po (check, then drop the flag):\n  " + "\n  ".join(fuzzy))
    assert not report, "\n".join(report)


def test_plural_entries_fill_the_one_chinese_form(catalogue: list[Entry]) -> None:
    plurals = [e for e in messages(catalogue) if e.msgid_plural is not None]
    wrong = [e.describe() for e in plurals if sorted(e.msgstr) != [0] or not e.msgstr[0]]
    assert not wrong, "plural entries need exactly msgstr[0]:\n  " + "\n  ".join(wrong)


def test_translations_keep_placeholders_and_markup(catalogue: list[Entry]) -> None:
    problems = []
    for entry in messages(catalogue):
        source = entry.msgid_plural if entry.msgid_plural is not None else entry.msgid
        for index, text in entry.msgstr.items():
            want, got = set(PLACEHOLDER.findall(source)), set(PLACEHOLDER.findall(text))
            if want != got:
                problems.append(
                    f"{entry.describe()} msgstr[{index}]: {sorted(got)} ≠ {sorted(want)}"
                )
            if Counter(TAG.findall(source)) != Counter(TAG.findall(text)):
                problems.append(f"{entry.describe()} msgstr[{index}]: HTML tags differ")
    assert not problems, "placeholders or tags changed:\n  " + "\n  ".join(problems)


def test_catalogue_is_up_to_date_with_the_code(tmp_path: Path, catalogue: list[Entry]) -> None:
    """Extract the strings afresh from a copy of the package and compare msgid sets: a string
    added to the code without a translation fails here, named."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext (xgettext, msgmerge, msgfmt) is not installed")
    copy = tmp_path / "civicgrid"
    shutil.copytree(
        PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "locale", "*.mo")
    )
    # An empty locale folder of its own, so that makemessages writes into the copy and never
    # into the real catalogue (LOCALE_PATHS points at the source tree).
    (copy / "locale").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings",
        "CIVICGRID_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        # -P: the copy (the working directory) must not shadow installed modules.
        [sys.executable, "-P", "-c", "from civicgrid.cli import main; main()", *MAKEMESSAGES],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = copy / "locale" / LOCALE / "LC_MESSAGES" / "django.po"
    assert fresh.exists(), result.stdout + result.stderr

    def show(key: tuple[str | None, str, str | None]) -> str:
        context, msgid, _plural = key
        return repr(msgid) + (f" (context {context!r})" if context else "")

    in_code = {e.key for e in messages(read_po(fresh))}
    committed = {e.key for e in messages(catalogue)}
    missing = sorted(in_code - committed, key=lambda k: (k[1], k[0] or ""))
    stale = sorted(committed - in_code, key=lambda k: (k[1], k[0] or ""))
    report = []
    if missing:
        report.append(
            "strings in the code but not in django.po:\n  " + "\n  ".join(map(show, missing))
        )
    if stale:
        report.append(
            "strings in django.po no longer in the code:\n  " + "\n  ".join(map(show, stale))
        )
    assert not report, (
        "\n".join(report)
        + "\nUpdate the catalogue: cd src/civicgrid && ../../.venv/bin/civicgrid "
        + shlex.join(MAKEMESSAGES)
        + " — then translate every new entry and drop '#, fuzzy'."
    )


@pytest.fixture(scope="session")
def compiled_catalogue() -> Path:
    """The compiled catalogue next to the .po, compiled now if missing or older than the .po
    (`make messages` normally does it). A lock keeps parallel workers from compiling at once."""
    lock_path = Path(tempfile.gettempdir()) / "civicgrid-compilemessages.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not MO_FILE.exists() or MO_FILE.stat().st_mtime < PO_FILE.stat().st_mtime:
                result = subprocess.run(
                    [
                        sys.executable,
                        "-P",
                        "-c",
                        "from civicgrid.cli import main; main()",
                        "compilemessages",
                        "-l",
                        LOCALE,
                    ],
                    cwd=PACKAGE_DIR,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    env={**os.environ, "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings"},
                )
                assert result.returncode == 0, result.stdout + result.stderr
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert MO_FILE.exists()
    return MO_FILE


@pytest.fixture
def fresh_translations(compiled_catalogue: Path, settings) -> None:
    # Changing LOCALE_PATHS makes Django drop the catalogues it has cached in this process, so
    # a .mo compiled a moment ago is the one read.
    settings.LOCALE_PATHS = list(django_settings.LOCALE_PATHS)


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_translations")
def test_login_page_is_chinese_by_default_even_for_an_english_browser(client) -> None:
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "登录" in page
    # Only civicgrid's own catalogue has these (Django's has "Log in" → 登录 too).
    assert "登录网格化服务管理平台" in page
    assert "网格化社区治理" in page
    assert "Log in to civicgrid" not in page


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_translations")
def test_login_page_is_english_when_the_user_chose_english(client) -> None:
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="en">' in page
    assert "Log in to civicgrid" in page
    assert "登录" not in page


@pytest.mark.usefixtures("fresh_translations")
def test_domain_terms_follow_the_glossary() -> None:
    from django.utils import translation

    from civicgrid.accounts.roles import Role
    from civicgrid.geo.choices import GridKind, Level

    with translation.override("zh-hans"):
        assert str(Level.GRID.label) == "网格"
        assert str(GridKind.DEDICATED.label) == "专属网格"
        assert str(Role.GRID_WORKER.label) == "网格员"
        assert str(Role.DEPARTMENT_HANDLER.label) == "职能部门处置人员"
    with translation.override("en"):
        assert str(Role.GRID_WORKER.label) == "grid worker"
