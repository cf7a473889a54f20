"""Helpers for the geo tests: run a command as the operator would, build GeoJSON and CSV."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError


@dataclass
class Run:
    ok: bool
    out: str
    err: str
    error: str  # the CommandError message ("" when the command succeeded)

    @property
    def text(self) -> str:
        return "\n".join((self.out, self.err, self.error))


def run(name: str, *args: Any) -> Run:
    """Call a management command with argv-style arguments; a CommandError is the non-zero exit
    (exit status 1 on the command line) and any other exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *[str(a) for a in args], stdout=out, stderr=err)
    except CommandError as exc:
        return Run(False, out.getvalue(), err.getvalue(), str(exc))
    return Run(True, out.getvalue(), err.getvalue(), "")


def square(x0: float, y0: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def rectangle(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(code: str | None, geometry: Any) -> dict[str, Any]:
    props = {} if code is None else {"code": code}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra}).encode()


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """A CSV file from an indented literal (leading blanks of each line removed)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return ("\n".join(lines) + "\n").encode(encoding)
