"""Import and export pages of the registry (导入导出): upload a file, see its check with every bad
row, import it for real (all or nothing, or the valid rows only) and watch a background import;
download templates; export a filtered list, straight away or, when long, as a background job.

URL names (registry/urls.py): import, import-job, import-repeat, template, export, export-job,
export-download. A list page links its export as `{% url 'registry:export' kind %}?<its query>`.
"""

from __future__ import annotations

import tempfile
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civicgrid.core import jobs
from civicgrid.core.importing import ImportReport
from civicgrid.core.models import ExportJob, ImportJob, JobStatus
from civicgrid.core.paths import any_subtree_q
from civicgrid.core.scoping import Action
from civicgrid.web.forms import StyledForm, run_action
from civicgrid.web.typing import AuthedRequest

from . import exporting
from .importing import JOB_PREFIX, KIND_LABELS
from .transfer import sheets
from .views.common import LIST_TITLES, SLUG_OF, SLUGS, grids_for, require_registry

MAX_ERRORS_SHOWN = 1000


class ImportForm(StyledForm):
    kind = forms.ChoiceField(label=gettext_lazy("What the file holds"))
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV (UTF-8 or GB18030) or Excel .xlsx, with a header row; the templates below "
            "show the columns."
        ),
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Only check the file; write nothing"), required=False, initial=True
    )
    skip_invalid = forms.BooleanField(
        label=gettext_lazy("Import the valid rows even if some rows are bad"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = jobs.kind_choices("registry")  # type: ignore[attr-defined]


class ExportForm(StyledForm):
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[("xlsx", "Excel (.xlsx)"), ("csv", "CSV (UTF-8)")],
        initial="xlsx",
    )
    unmask = forms.BooleanField(
        label=gettext_lazy("Full ID and phone numbers (logged)"), required=False
    )
    reason = forms.CharField(
        label=gettext_lazy("Why you need the full numbers"), required=False, max_length=500
    )

    def __init__(self, *args: Any, may_unmask: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_unmask:
            del self.fields["unmask"]
            del self.fields["reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("unmask") and not str(data.get("reason") or "").strip():
            self.add_error("reason", _("Say why you need the full numbers."))
        return data


# --- imports ------------------------------------------------------------------------------
def _registry_jobs(user: Any) -> QuerySet[ImportJob]:
    """Registry import jobs of the user's area (registry jobs are placed where their importer
    may change records; the "import" data class of division imports does not apply)."""
    jobs_qs = ImportJob.objects.filter(kind__startswith=JOB_PREFIX).select_related("created_by")
    paths = user.scope_paths("registry", "view")
    if paths is None:
        return jobs_qs
    q = any_subtree_q("division_path", paths)
    return jobs_qs.none() if q is None else jobs_qs.filter(q)


@login_required
def import_page(request: AuthedRequest) -> HttpResponse:
    require_registry(request.user, Action.CHANGE)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = run_action(
            form,
            lambda: jobs.do_create_import_job(
                actor=request.user,
                kind=data["kind"],
                upload=data["file"],
                options={"dry_run": data["dry_run"], "skip_invalid": data["skip_invalid"]},
            ),
        )
        if job is not None:
            return redirect("registry:import-job", job.pk)
    kinds = [(SLUG_OF[k], label) for k, label in KIND_LABELS.items()]
    return render(
        request,
        "registry/transfer/import.html",
        {
            "form": form,
            "jobs": _registry_jobs(request.user)[:20],
            "kinds": kinds,
            "labels": {JOB_PREFIX + k: v for k, v in KIND_LABELS.items()},
        },
    )


@login_required
def import_job(request: AuthedRequest, pk: int) -> HttpResponse:
    require_registry(request.user)
    job = get_object_or_404(_registry_jobs(request.user), pk=pk)
    report = ImportReport.from_dict(job.report) if job.report else None
    context = {
        "job": job,
        "report": report,
        "errors": report.errors[:MAX_ERRORS_SHOWN] if report else [],
        "more_errors": max(0, len(report.errors) - MAX_ERRORS_SHOWN) if report else 0,
        "label": KIND_LABELS.get(job.kind.removeprefix(JOB_PREFIX), job.kind),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "registry/transfer/import_status.html", context)
    return render(request, "registry/transfer/import_job.html", context)


@login_required
@require_POST
def import_repeat(request: AuthedRequest, pk: int) -> HttpResponse:
    """Import a checked file for real: all or nothing, or the valid rows only."""
    require_registry(request.user, Action.CHANGE)
    job = get_object_or_404(_registry_jobs(request.user), pk=pk)
    skip = request.POST.get("skip_invalid") == "1"
    again = jobs.do_repeat_import_job(
        job, actor=request.user, options={"dry_run": False, "skip_invalid": skip}
    )
    return redirect("registry:import-job", again.pk)


@login_required
def template(request: AuthedRequest, kind: str, fmt: str) -> HttpResponse:
    """The import template of a record type (header and one example row)."""
    require_registry(request.user)
    kind = SLUGS[kind]
    if fmt not in exporting.FORMATS:
        raise Http404
    grid = grids_for(request.user).values_list("code", flat=True).first() or ""
    body = sheets.template(kind, fmt, grid, title=str(KIND_LABELS[kind]))
    response = HttpResponse(body, content_type=exporting.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{kind}-template.{fmt}"'
    return response


# --- exports ------------------------------------------------------------------------------
def _may_unmask(user: Any) -> bool:
    paths = user.scope_paths("identity", "view")
    return paths is None or bool(paths)


@login_required
def export_page(request: AuthedRequest, kind: str) -> HttpResponseBase:
    """GET: what the export will hold (the list's filters, the number of rows) and the form;
    POST: the file, or a background job for a long list."""
    require_registry(request.user)
    kind = SLUGS[kind]
    user = request.user
    params = {k: str(v) for k, v in request.GET.items() if k != "page"}
    may_unmask = _may_unmask(user)
    form = ExportForm(request.POST or None, may_unmask=may_unmask)
    try:
        count = exporting.records(kind, user, params).count()
        problems: dict[str, Any] = {}
    except ValidationError as exc:
        count, problems = 0, exc.message_dict
    if request.method == "POST" and form.is_valid() and not problems:
        data = form.cleaned_data
        export = exporting.ExportRequest(
            kind=kind,
            params=params,
            format=data["format"],
            unmask=bool(data.get("unmask")),
            reason=str(data.get("reason") or ""),
        )
        try:
            if count > exporting.EXPORT_THRESHOLD:
                job = run_action(form, lambda: exporting.do_create_export_job(export, user))
                if job is not None:
                    return redirect("registry:export-job", job.pk)
            else:
                response = run_action(form, lambda: _download(export, user))
                if response is not None:
                    return response
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
    recent = ExportJob.objects.filter(created_by=user, kind__startswith=JOB_PREFIX)[:10]
    return render(
        request,
        "registry/transfer/export.html",
        {
            "kind": kind,
            "title": LIST_TITLES[kind],
            "form": form,
            "count": count,
            "problems": problems,
            "filters": exporting.describe(exporting.ExportRequest(kind=kind, params=params)),
            "query": request.GET.urlencode(),
            "threshold": exporting.EXPORT_THRESHOLD,
            "jobs": recent,
        },
    )


def _download(export: exporting.ExportRequest, user: Any) -> HttpResponseBase:
    """A short export, now: CSV streams as it is read; .xlsx is assembled first (a zip)."""
    exporting.check(export, user)
    qs = exporting.records(export.kind, user, export.params)
    count = qs.count()
    exporting.log_export(export, user, count)
    data = exporting.rows(export.kind, qs, user, unmask=export.unmask)
    name = exporting.file_name(export)
    response: HttpResponseBase
    if export.format == "csv":
        response = StreamingHttpResponse(
            sheets.csv_chunks(exporting.columns(export.kind), data),
            content_type=exporting.CONTENT_TYPES["csv"],
        )
    else:
        # FileResponse closes (and so removes) the temporary file when it has been sent.
        spool = tempfile.TemporaryFile(prefix="civicgrid-export-")  # noqa: SIM115
        exporting.write(export, data, spool)
        spool.seek(0)
        response = FileResponse(spool, content_type=exporting.CONTENT_TYPES["xlsx"])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _my_export(user: Any, pk: int) -> ExportJob:
    # Only its requester sees an export job: the file may hold full numbers.
    return get_object_or_404(ExportJob, pk=pk, created_by=user, kind__startswith=JOB_PREFIX)


@login_required
def export_job(request: AuthedRequest, pk: int) -> HttpResponse:
    require_registry(request.user)
    job = _my_export(request.user, pk)
    kind = job.kind.removeprefix(JOB_PREFIX)
    context = {"job": job, "kind": kind, "title": LIST_TITLES.get(kind, kind)}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "registry/transfer/export_status.html", context)
    return render(request, "registry/transfer/export_job.html", context)


@login_required
def export_download(request: AuthedRequest, pk: int) -> FileResponse:
    require_registry(request.user)
    job = _my_export(request.user, pk)
    if job.status != JobStatus.SUCCEEDED or not job.file:
        raise Http404
    response = FileResponse(
        job.file.open("rb"),
        content_type=exporting.CONTENT_TYPES.get(job.format, "application/octet-stream"),
        as_attachment=True,
        filename=job.file_name,
    )
    response["Cache-Control"] = "no-store"
    return response
