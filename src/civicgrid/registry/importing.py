"""Importing registry records from spreadsheets (CSV or .xlsx): residents, households, houses,
buildings, organisations, places and care-group tags.

The contract is core/importing.py's: every row is checked first and the report lists each bad
row with its line, column and reason; by default one bad row rejects the file and nothing is
written; with `skip_invalid` the good rows are written; a dry run writes nothing. Writing is
one transaction, so a failure midway leaves the database as it was. Re-importing a file
changes nothing: a row whose record is stored with the same values counts as unchanged, and
writes no history and no feed entry.

Two passes keep memory flat however long the file: the checking pass streams the file in
chunks (registry/transfer/plans.py), keeping per row only 13 bytes for spotting a record that
appears twice, and spools the cleaned rows to a temporary file; the writing pass reads the
spool back chunk by chunk. Cleaning (validation, encryption, blind indexes, search terms) can
run in worker processes for large files; the database work stays in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from civicgrid.core.importing import ImportReport, ProgressFn, RowError

from .transfer.columns import LAYOUTS
from .transfer.plans import PLANS, Plan, clean_row
from .transfer.reading import FileProblem, Sheet, open_table
from .transfer.rows import CREATE, UNCHANGED, UPDATE, Context, Row

CHUNK_ROWS = 5000
# Below this many rows the worker processes cost more to start than they save.
PARALLEL_FROM_ROWS = 20_000
EXTENSIONS = (".csv", ".txt", ".xlsx", ".xlsm")
KIND_LABELS = {
    # In their own context: elsewhere "residents" and "households" are counts (人口数, 户数).
    "resident": pgettext_lazy("registry", "residents"),
    "household": pgettext_lazy("registry", "households"),
    "house": gettext_lazy("houses"),
    "building": gettext_lazy("buildings"),
    "organisation": gettext_lazy("organisations"),
    "place": gettext_lazy("places and hazard sources"),
    "care_tag": gettext_lazy("care and key groups"),
}
JOB_PREFIX = "registry."


class _Abort(Exception):
    """Leaves the writing transaction, undoing it: rows refused at write time (the stored
    records changed between the passes) in an all-or-nothing import."""


def do_import_records(
    kind: str,
    source: IO[bytes] | str | Path,
    *,
    actor: Any,
    name: str = "",
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: ProgressFn | None = None,
    chunk_rows: int = CHUNK_ROWS,
    workers: int | None = None,
) -> ImportReport:
    """Import a file of `kind` records as `actor` (None: the operator at the console, no scope
    limit). `source` is a path or a binary file; `workers` = cleaning processes (None: as
    many as CPUs for large files, 0: none)."""
    if kind not in PLANS:
        return ImportReport(fatal=_("Unknown record type “%(kind)s”.") % {"kind": kind})
    if actor is not None:
        paths = actor.scope_paths("registry", "change")
        if paths is not None and not paths:
            raise PermissionDenied(_("Your roles do not allow changing registry records."))
    with contextlib.ExitStack() as stack:
        if isinstance(source, str | Path):
            name = name or str(source)
            try:
                source = stack.enter_context(open(source, "rb"))
            except OSError as exc:
                return ImportReport(fatal=str(exc.strerror or exc))
        try:
            sheet = stack.enter_context(open_table(name, source, LAYOUTS[kind]))
        except FileProblem as exc:
            return ImportReport(fatal=str(exc), dry_run=dry_run)
        run = _Import(kind, sheet, actor, chunk_rows, progress)
        try:
            return run.execute(dry_run=dry_run, skip_invalid=skip_invalid, workers=workers)
        except FileProblem as exc:
            return ImportReport(fatal=str(exc), dry_run=dry_run)
        finally:
            run.close()


class _Import:
    def __init__(
        self, kind: str, sheet: Sheet, actor: Any, chunk_rows: int, progress: ProgressFn | None
    ) -> None:
        self.kind = kind
        self.sheet = sheet
        self.ctx = Context(actor, {c for c in sheet.codes if c})
        self.plan: Plan = PLANS[kind](self.ctx)
        self.chunk_rows = max(1, chunk_rows)
        self.progress = progress
        self.report = ImportReport()
        self.spool: IO[bytes] | None = None
        self.pool: Any = None
        # Per accepted row: its key's hash, line and fate (CREATE/UPDATE/UNCHANGED), to find
        # records the file names twice after the first pass, in 13 bytes per row.
        self.hashes = array("q")
        self.lines = array("i")
        self.ops = array("b")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        if self.spool is not None:
            self.spool.close()

    def _tick(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, max(total, done))

    # -----------------------------------------------------------------------------------------
    def execute(self, *, dry_run: bool, skip_invalid: bool, workers: int | None) -> ImportReport:
        report = self.report
        report.dry_run = dry_run
        estimate = self.sheet.total
        phases = 1 if dry_run else 2
        if not dry_run:
            # Closed (and removed) by close().
            self.spool = tempfile.TemporaryFile(prefix="civicgrid-import-")  # noqa: SIM115
        self._check(workers, estimate, phases)
        report.total = len(self.lines) + len({e.line for e in report.errors if e.line > 0})
        if not report.total:
            report.fatal = _("The file has a header but no rows.")
            return report
        self._duplicates()
        report.errors.sort(key=lambda e: e.line)
        counts = {op: self.ops.count(op) for op in (CREATE, UPDATE, UNCHANGED)}
        if dry_run or (report.errors and not skip_invalid):
            report.created, report.updated, report.unchanged = (
                counts[CREATE],
                counts[UPDATE],
                counts[UNCHANGED],
            )
            return report
        self._write(skip_invalid, phases)
        return report

    # the checking pass --------------------------------------------------------------------------
    def _chunks(self) -> Iterator[list[Row]]:
        chunk: list[Row] = []
        codes = self.sheet.codes
        for line, cells in self.sheet.rows:
            chunk.append(self.plan.parse(line, cells, codes))
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _start_pool(self, workers: int | None) -> None:
        wanted = (os.cpu_count() or 1) if workers is None else workers
        if wanted < 1 or (workers is None and self.sheet.total < PARALLEL_FROM_ROWS):
            return
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        # Forked workers share Django's set-up, settings and the active language; they must
        # never use the inherited database connection (see _worker_start).
        self.pool = multiprocessing.get_context("fork").Pool(wanted, initializer=_worker_start)

    def _check(self, workers: int | None, estimate: int, phases: int) -> None:
        self._start_pool(workers)
        pending: list[tuple[list[Row], list[Any]]] = []
        done = 0
        for rows in self._chunks():
            self.plan.prepare(rows)
            items = [(r.line, self.plan.kind, r.data) for r in rows]
            if self.pool is None:
                results = [_clean_items(items, self.ctx.today)]
                self._finish(rows, results)
            else:
                # Two halves per chunk, one per worker; this process prepares the next chunk
                # while they clean this one.
                half = (len(items) + 1) // 2
                parts = [items[:half], items[half:]]
                futures = [
                    self.pool.apply_async(_clean_items, (part, self.ctx.today)) for part in parts
                ]
                pending.append((rows, futures))
                if len(pending) > 1:
                    previous, handles = pending.pop(0)
                    self._finish(previous, [h.get() for h in handles])
            done += len(rows)
            self._tick(done, estimate * phases)
        for previous, handles in pending:
            self._finish(previous, [h.get() for h in handles])
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None

    def _finish(self, rows: list[Row], results: list[list[Any]]) -> None:
        by_line = {line: result for part in results for line, *result in part}
        for row in rows:
            values, errors, terms = by_line[row.line]
            if errors:
                self.plan.add_cleaner_errors(row, errors)
            elif not row.errors:
                self.plan.accept(row, values, terms)
        self.plan.classify(rows)
        spooled = []
        for row in rows:
            if row.errors:
                for column, message in row.errors:
                    self._error(row.line, column, message)
                continue
            self.hashes.append(self.plan.key_hash(row))
            self.lines.append(row.line)
            self.ops.append(row.op)
            if self.spool is not None and row.op != UNCHANGED:
                spooled.append(self.plan.to_spool(row))
        if spooled and self.spool is not None:
            pickle.dump(spooled, self.spool, protocol=pickle.HIGHEST_PROTOCOL)

    def _error(self, line: int, column: str, message: str) -> None:
        where = self.sheet.header_of(column) if column else ""
        self.report.errors.append(RowError(line=line, field=where, message=message))

    def _duplicates(self) -> None:
        """A record named by two rows: the later rows are refused, pointing at the first."""
        import numpy as np

        count = len(self.hashes)
        if count < 2:
            return
        hashes = np.frombuffer(self.hashes, dtype=np.int64)
        order = np.argsort(hashes, kind="stable")  # equal keys stay in line order
        ordered = hashes[order]
        starts = np.ones(count, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        if starts.all():
            return
        first = np.maximum.accumulate(np.where(starts, np.arange(count), 0))
        for position in np.nonzero(~starts)[0].tolist():
            index = int(order[position])
            self._error(
                self.lines[index],
                self.plan.key_column,
                _("This record appears again: it is already on line %(line)d.")
                % {"line": self.lines[int(order[first[position]])]},
            )
            self.ops[index] = 0

    # the writing pass ---------------------------------------------------------------------------
    def _spooled(self) -> Iterator[list[Any]]:
        assert self.spool is not None
        self.spool.seek(0)
        while True:
            try:
                yield pickle.load(self.spool)
            except EOFError:
                return

    def _write(self, skip_invalid: bool, phases: int) -> None:
        report = self.report
        bad = {e.line for e in report.errors}
        total = len(self.lines)
        counts = {CREATE: 0, UPDATE: 0, UNCHANGED: 0}
        counts[UNCHANGED] = self.ops.count(UNCHANGED)  # not spooled: nothing to write
        done = 0
        late: list[RowError] = []
        try:
            with transaction.atomic():
                for items in self._spooled():
                    rows = [self.plan.from_spool(i) for i in items if i[0] not in bad]
                    self.plan.resolve(rows)
                    self.plan.classify(rows, lock=connection.features.has_select_for_update)
                    refused = [r for r in rows if r.errors]
                    for row in refused:
                        for column, message in row.errors:
                            late.append(RowError(row.line, self.sheet.header_of(column), message))
                    if refused and not skip_invalid:
                        raise _Abort
                    rows = [r for r in rows if not r.errors]
                    self.plan.write(rows)
                    for row in rows:
                        counts[row.op] += 1
                    done += len(items)
                    self._tick(total + done if phases == 2 else done, total * phases)
        except _Abort:
            report.errors = sorted([*report.errors, *late], key=lambda e: e.line)
            report.created = report.updated = 0
            return
        except DatabaseError as exc:
            report.fatal = _(
                "The import failed and nothing was written: the database refused a row "
                "(%(reason)s). Nothing of this file is stored; try again."
            ) % {"reason": _database_reason(exc)}
            report.created = report.updated = report.unchanged = 0
            return
        report.errors = sorted([*report.errors, *late], key=lambda e: e.line)
        report.created, report.updated, report.unchanged = (
            counts[CREATE],
            counts[UPDATE],
            counts[UNCHANGED],
        )
        report.written = True
        self._tick(total * phases, total * phases)


def _database_reason(exc: DatabaseError) -> str:
    """What the database said, without the row's values (they could hold personal data)."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None and (diag.constraint_name or diag.message_primary):
        return str(diag.constraint_name or diag.message_primary)
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# --- cleaning, here or in worker processes -----------------------------------------------------
def _worker_start() -> None:
    """A forked worker holds a copy of the parent's database connection object; using (or
    closing) it would disturb the parent's session, so any query here is an error."""
    from django.db import connections

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("import workers do not use the database")

    for alias in connections:
        connections[alias].execute_wrappers.append(refuse)


def _clean_items(items: list[tuple[int, str, dict[str, Any]]], today: Any) -> list[tuple[Any, ...]]:
    return [(line, *clean_row(kind, data, today)) for line, kind, data in items]


# --- background jobs (core.jobs) ---------------------------------------------------------------
def _runner(kind: str) -> Any:
    def run(
        files: list[tuple[str, bytes]], actor: Any, options: dict[str, Any], progress: ProgressFn
    ) -> ImportReport:
        import io

        if len(files) != 1:
            return ImportReport(fatal=_("Upload one CSV or Excel file."))
        name, raw = files[0]
        return do_import_records(
            kind,
            io.BytesIO(raw),
            name=name,
            actor=actor,
            dry_run=bool(options.get("dry_run")),
            skip_invalid=bool(options.get("skip_invalid")),
            progress=progress,
        )

    return run


def register_importers() -> None:
    from civicgrid.core.jobs import Importer, register

    for kind, label in KIND_LABELS.items():
        register(Importer(JOB_PREFIX + kind, label, _runner(kind), EXTENSIONS, "registry"))


def job_kind(kind: str) -> str:
    return JOB_PREFIX + kind
