"""A static files finder for front-end packages of which the pages use only a few files.

STATICFILES_DIRS would collect a package's whole folder: ECharts' `dist` alone is 51 MB of
builds the pages never load (ESM, source maps, extensions), which collectstatic copies and
compresses on every set-up. settings.VENDOR_FILES names exactly the files to serve instead:
`(prefix, folder, [names relative to folder])`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, overload

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage


def _files() -> Iterator[tuple[str, Path, str]]:
    for prefix, folder, names in getattr(settings, "VENDOR_FILES", []):
        for name in names:
            yield prefix, Path(folder), name


class VendorFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return [
            Error(
                f"Front-end file {folder / name} is missing.",
                hint="Run `make setup` (npm ci installs the front-end packages).",
                id="civicgrid.E001",
            )
            for _prefix, folder, name in _files()
            if not (folder / name).is_file()
        ]

    @overload
    def find(self, path: str, find_all: Literal[False] = ...) -> str | None: ...

    @overload
    def find(self, path: str, find_all: Literal[True]) -> list[str]: ...

    def find(self, path: str, find_all: bool = False) -> str | list[str] | None:
        found = [
            str(folder / name) for prefix, folder, name in _files() if path == f"{prefix}/{name}"
        ]
        if find_all:
            return found
        # Nothing found is an empty list, as Django's own finders answer: finders.find() would
        # turn None into a match.
        return found[0] if found else []

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for prefix, folder, name in _files():
            storage = FileSystemStorage(location=folder)
            storage.prefix = prefix  # type: ignore[attr-defined]
            yield name, storage
