"""Attachments are checked by their content, never by their name or declared type. Photos are
decoded and re-encoded as JPEG — which drops EXIF (GPS position, device) and anything hidden
after the image data — after turning them upright and shrinking very large ones."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from .choices import AttachmentKind
from .models import Attachment, Case, CaseStep

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 60_000_000  # refuse decompression bombs before decoding
MAX_SIDE = 2560
JPEG_QUALITY = 85
PDF_MAGIC = b"%PDF-"
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"}


@dataclass(frozen=True)
class Prepared:
    kind: str
    content: bytes
    content_type: str
    name: str
    width: int | None
    height: int | None


def is_photo(raw: bytes) -> bool:
    """Whether an upload would be stored as a photo (if `prepare` accepts it at all)."""
    return bool(raw) and not raw.startswith(PDF_MAGIC)


def prepare(raw: bytes, name: str) -> Prepared:
    """Validate an upload and return what will be stored (ValidationError naming `file`)."""
    if not raw:
        raise ValidationError({"file": _("The file is empty.")})
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": _("The file is larger than 20 MB.")})
    # Only the last part of a name sent as a path ("../../x.jpg", "C:\\photos\\x.jpg").
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem = (base.rsplit(".", 1)[0].strip(". ") or "file")[:150]
    if raw.startswith(PDF_MAGIC):
        return Prepared(AttachmentKind.DOCUMENT, raw, "application/pdf", f"{stem}.pdf", None, None)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            fmt, pixels = probe.format, probe.width * probe.height
            probe.verify()
        if fmt not in IMAGE_FORMATS:
            raise UnidentifiedImageError(fmt)
        if pixels > MAX_PIXELS:
            # Pillow refuses only twice its limit and merely warns below that.
            raise Image.DecompressionBombError(f"{pixels} pixels")
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            if upright.mode not in ("RGB", "L"):
                background = Image.new("RGB", upright.size, "white")
                rgba = upright.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                upright = background
            upright.thumbnail((MAX_SIDE, MAX_SIDE))
            # The JPEG writer copies a comment (COM) from the source image's info; drop all of
            # it, and pass no exif=, so that the new file carries no metadata at all.
            upright.info = {}
            out = io.BytesIO()
            upright.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            {"file": _("Only photos (JPEG, PNG, WebP…) and PDF documents can be attached.")}
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ValidationError({"file": _("The image has too many pixels.")}) from exc
    return Prepared(
        AttachmentKind.PHOTO,
        out.getvalue(),
        "image/jpeg",
        f"{stem}.jpg",
        upright.width,
        upright.height,
    )


def store(
    case: Case,
    prepared: Prepared,
    *,
    actor: Any,
    step: CaseStep | None = None,
    client_uuid: uuid.UUID | None = None,
) -> Attachment:
    digest = hashlib.sha256(prepared.content).hexdigest()
    attachment = Attachment(
        case=case,
        step=step,
        kind=prepared.kind,
        original_name=prepared.name,
        content_type=prepared.content_type,
        size=len(prepared.content),
        sha256=digest,
        width=prepared.width,
        height=prepared.height,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
        client_uuid=client_uuid,
    )
    attachment.file.save(
        f"{digest[:16]}-{prepared.name}", ContentFile(prepared.content), save=False
    )
    attachment.save()
    return attachment
