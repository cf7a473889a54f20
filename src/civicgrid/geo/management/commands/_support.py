"""What the geo commands share: reading input files, finding a division by its code, turning
domain errors into a message and a non-zero exit, and printing an import report.

(The leading underscore keeps Django from offering this module as a command.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicgrid.core.importing import ImportReport, RowError, messages_of
from civicgrid.geo import codes
from civicgrid.geo.models import Division

T = TypeVar("T")

# Refuse absurd inputs before reading them into memory (the upload limit of the pages).
MAX_FILE_BYTES = 200 * 1024 * 1024


def read_input(path: str, *, what: str) -> bytes:
    """The bytes of a file named on the command line, or a CommandError saying what is wrong."""
    file = Path(path)
    if not file.exists():
        raise CommandError(_("No such file: %(path)s") % {"path": path})
    if file.is_dir():
        raise CommandError(
            _("%(path)s is a directory; give a %(what)s file.") % {"path": path, "what": what}
        )
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise CommandError(_("%(path)s is larger than 200 MB.") % {"path": path})
        return file.read_bytes()
    except OSError as exc:
        raise CommandError(
            _("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror or exc}
        ) from exc


def domain_call(call: Callable[[], T]) -> T:
    """Run an action; its refusals become a CommandError (message, exit status 1)."""
    try:
        return call()
    except ValidationError as exc:
        raise CommandError(describe_validation(exc)) from exc
    except PermissionDenied as exc:
        raise CommandError(str(exc) or _("Permission denied.")) from exc


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for field, message in messages_of(exc):
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def find_division(code: str, *, option: str = "code") -> Division:
    """The active division with this code (canonical or zero-padded 12-digit form)."""
    text = (code or "").strip()
    candidates = {text}
    try:
        level = codes.infer_level(text)
        candidates.add(codes.normalize(text, level))
    except ValidationError:
        pass
    division = (
        Division.objects.filter(code__in=candidates, is_active=True)
        .select_related("parent")
        .first()
    )
    if division is None:
        if not text.isdigit():
            raise CommandError(
                _("%(option)s: “%(code)s” is not a division code (digits only).")
                % {"option": option, "code": code}
            )
        raise CommandError(
            _("%(option)s: no active division has the code %(code)s.")
            % {"option": option, "code": text}
        )
    return division


def format_error(error: RowError, *, unit: str) -> str:
    """One bad row or feature, in words: where it is, which field, what is wrong."""
    if error.file and error.line == 0:
        where = error.file
    elif error.file:
        where = _("%(file)s, feature %(n)d") % {"file": error.file, "n": error.line}
    elif unit == "feature":
        where = _("feature %(n)d") % {"n": error.line}
    else:
        where = _("line %(n)d") % {"n": error.line}
    if error.field:
        where += f" [{error.field}]"
    return f"{where}: {error.message}"


def finish_import(
    command: BaseCommand,
    report: ImportReport,
    *,
    unit: str,
    skip_invalid: bool,
) -> None:
    """Print every bad row (or feature) and the summary; raise CommandError when the file was
    refused, so that the exit status tells scripts what happened."""
    if report.fatal:
        raise CommandError(report.fatal)
    bad = len(report.errors)
    if report.errors:
        heading = _("Bad rows:") if unit == "row" else _("Problems:")
        command.stderr.write(heading)
        for error in report.errors:
            command.stderr.write("  " + format_error(error, unit=unit))
    counts = {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "bad": bad,
    }
    if report.dry_run:
        command.stdout.write(
            _(
                "Dry run, nothing written: would create %(created)d, update %(updated)d, "
                "leave %(unchanged)d unchanged; %(bad)d bad."
            )
            % counts
        )
    elif report.written:
        command.stdout.write(
            _(
                "Created %(created)d, updated %(updated)d, unchanged %(unchanged)d; "
                "%(bad)d bad (skipped)."
            )
            % counts
        )
    if bad and not skip_invalid:
        if unit == "row":
            message = _("%(bad)d bad row(s)") % {"bad": bad}
        else:
            message = _("%(bad)d bad feature(s) or file(s)") % {"bad": bad}
        if report.dry_run:
            message += _(": the import would be refused. Pass --skip-invalid to import the rest.")
        else:
            message += _(
                ": nothing was written. Fix them, or pass --skip-invalid to import the rest."
            )
        raise CommandError(message)
