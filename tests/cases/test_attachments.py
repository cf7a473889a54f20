"""Attachments: judged by content, photos re-encoded upright without any metadata, documents
kept, everything else refused naming `file`; downloads scoped and never sniffed."""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
import zlib
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.cases import actions
from civicgrid.cases import attachments as files
from civicgrid.cases.models import Attachment, Case

from ..conftest import login
from ..world import World
from .conftest import jpeg, report

GPS = {1: "N", 2: (37.0, 22.0, 30.5), 3: "E", 4: (118.0, 1.0, 2.0)}


def photo_with_gps(**extra: Any) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x8825] = GPS  # GPSInfo
    out = io.BytesIO()
    Image.new("RGB", (80, 60), "green").save(out, "JPEG", exif=exif, **extra)
    return out.getvalue()


def upload(api: APIClient, case: Case, name: str, raw: bytes, **data: Any) -> Any:
    return api.post(
        f"/api/v1/cases/{case.pk}/attachments/",
        {"file": SimpleUploadedFile(name, raw), **data},
        format="multipart",
    )


def stored(attachment_id: int) -> bytes:
    with Attachment.objects.get(pk=attachment_id).file.open("rb") as f:
        return f.read()


@pytest.fixture
def case(world: World, people: dict[str, User]) -> Case:
    return report(people["worker"])


def test_the_test_photo_really_carries_its_position() -> None:
    raw = photo_with_gps(comment=b"shot at 37.3751N 118.0172E")
    with Image.open(io.BytesIO(raw)) as image:
        assert image.getexif().get_ifd(0x8825)[2] == (37.0, 22.0, 30.5)
        assert b"37.3751N" in image.info["comment"]


def test_a_photo_is_stored_without_exif_gps_or_comments(
    case: Case, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["worker"])
    raw = photo_with_gps(comment=b"shot at 37.3751N 118.0172E")
    r = upload(api, case, "IMG_0001.JPG", raw)
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["kind"] == "photo" and data["content_type"] == "image/jpeg"
    assert data["original_name"] == "IMG_0001.jpg"
    assert (data["width"], data["height"]) == (80, 60)
    content = stored(data["id"])
    assert content != raw and content.startswith(b"\xff\xd8")
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert "exif" not in image.info and "comment" not in image.info
    for trace in (b"Exif", b"PhoneMaker", b"Model X", b"37.3751N", b"GPS"):
        assert trace not in content, trace


def test_an_exif_rotated_photo_is_stored_upright(
    case: Case, people: dict[str, User], api: APIClient
) -> None:
    # A 40×20 picture, left half red and right half blue, that a camera held upright took
    # sideways: orientation 6 says "turn 90° clockwise to show".
    image = Image.new("RGB", (40, 20), "blue")
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    login(api, people["worker"])
    r = upload(api, case, "sideways.jpg", out.getvalue())
    assert r.status_code == 201, r.content
    assert (r.json()["width"], r.json()["height"]) == (20, 40)
    with Image.open(io.BytesIO(stored(r.json()["id"]))) as upright:
        assert upright.size == (20, 40)
        assert not upright.getexif().get(0x0112)
        red, blue = upright.convert("RGB").getpixel((10, 5)), upright.getpixel((10, 35))
    assert red[0] > 200 and red[2] < 60, red
    assert blue[2] > 200 and blue[0] < 60, blue


def test_a_transparent_png_becomes_a_jpeg_on_white(
    case: Case, people: dict[str, User], api: APIClient
) -> None:
    image = Image.new("RGBA", (30, 30), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 10, 10))
    out = io.BytesIO()
    image.save(out, "PNG")
    login(api, people["worker"])
    r = upload(api, case, "sketch.png", out.getvalue())
    assert r.status_code == 201, r.content
    assert r.json()["content_type"] == "image/jpeg" and r.json()["original_name"] == "sketch.jpg"
    with Image.open(io.BytesIO(stored(r.json()["id"]))) as result:
        assert result.format == "JPEG" and result.mode == "RGB"
        assert min(result.getpixel((25, 25))) > 240  # transparent → white, not black
        blue = result.getpixel((3, 3))
        assert blue[2] > 200 and blue[0] < 60


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.txt", "hello")
    return out.getvalue()


REFUSED = [
    ("notes.jpg", b"just some text, not a picture\n"),
    ("page.html", b"<!doctype html><html><script>alert(1)</script></html>"),
    ("page.jpg", b"<html><body onload=alert(1)>"),
    (
        "logo.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
        b'<rect width="10" height="10"/></svg>',
    ),
    ("archive.zip", _zip()),
    ("archive.jpg", _zip()),
    ("empty.jpg", b""),
    ("truncated.jpg", jpeg()[:200]),
    ("icon.ico", b"\x00\x00\x01\x00" + b"\x00" * 60),
]


@pytest.mark.parametrize(("name", "raw"), REFUSED, ids=[n for n, _r in REFUSED])
def test_files_that_are_not_photos_or_pdfs_are_refused_naming_file(
    name: str, raw: bytes, case: Case, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["worker"])
    r = upload(api, case, name, raw)
    assert r.status_code == 400, r.content
    assert "file" in r.json()["errors"]
    assert not Attachment.objects.exists()


def test_a_pdf_is_kept_as_a_document(case: Case, people: dict[str, User], api: APIClient) -> None:
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    login(api, people["worker"])
    r = upload(api, case, "调解协议.pdf", pdf)
    assert r.status_code == 201, r.content
    assert r.json()["kind"] == "document" and r.json()["content_type"] == "application/pdf"
    assert stored(r.json()["id"]) == pdf
    file = api.get(r.json()["url"])
    assert file.status_code == 200 and file["Content-Type"] == "application/pdf"
    assert file["X-Content-Type-Options"] == "nosniff"


def test_more_than_twenty_megabytes_is_refused(
    case: Case, people: dict[str, User], api: APIClient
) -> None:
    big = b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024)
    login(api, people["worker"])
    r = upload(api, case, "big.pdf", big)
    assert r.status_code == 400 and "file" in r.json()["errors"]
    assert not Attachment.objects.exists()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds (almost) no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused(
    case: Case, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["worker"])
    # Far beyond the limit: refused from the header alone.
    r = upload(api, case, "bomb.png", _png_header_only(30_000, 30_000))
    assert r.status_code == 400 and "file" in r.json()["errors"]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_just_over_the_pixel_limit_is_refused_before_decoding() -> None:
    """Pillow only warns between its limit and twice that; the upload limit is the limit."""
    side = int(files.MAX_PIXELS**0.5) + 10
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")  # a few kilobytes of zeros
    raw = out.getvalue()
    assert len(raw) < 2 * 1024 * 1024
    with pytest.raises(ValidationError) as exc:
        files.prepare(raw, "plain.png")
    assert "file" in exc.value.message_dict


def test_the_download_is_scoped_and_never_sniffed(
    world: World, case: Case, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["worker"])
    r = upload(api, case, "a.jpg", jpeg())
    assert r.status_code == 201
    url = r.json()["url"]
    assert url == f"/api/v1/cases/{case.pk}/attachments/{r.json()['id']}/file/"
    file = api.get(url)
    assert file.status_code == 200
    assert file["Content-Type"] == "image/jpeg" and file["X-Content-Type-Options"] == "nosniff"
    assert b"".join(file.streaming_content).startswith(b"\xff\xd8")
    for who in ("worker_b", "community_a1b", "handler", "sysadmin"):
        login(api, people[who])
        assert api.get(url).status_code == 404, who
    # The attachment is reached only through its own case.
    other = report(people["worker"])
    login(api, people["worker"])
    assert (
        api.get(f"/api/v1/cases/{other.pk}/attachments/{r.json()['id']}/file/").status_code == 404
    )
    api.force_authenticate(user=None)
    assert api.get(url).status_code in (401, 403)


def test_a_replayed_upload_returns_the_same_attachment(
    case: Case, people: dict[str, User], api: APIClient
) -> None:
    key = str(uuid.uuid4())
    login(api, people["worker"])
    first = upload(api, case, "a.jpg", jpeg(), client_uuid=key)
    again = upload(api, case, "a.jpg", jpeg(), client_uuid=key)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert again.json()["id"] == first.json()["id"]
    assert Attachment.objects.count() == 1
    other = report(people["worker"])
    r = upload(api, other, "a.jpg", jpeg(), client_uuid=key)
    assert r.status_code == 409
    assert Attachment.objects.count() == 1


def test_who_may_add_files(case: Case, people: dict[str, User], api: APIClient) -> None:
    for who, code in (
        ("worker", 201),
        ("community", 201),
        ("leader", 403),
        ("worker_b", 404),
        ("handler", 404),
    ):
        login(api, people[who])
        assert upload(api, case, "a.jpg", jpeg()).status_code == code, who


def test_a_file_name_is_only_a_name(case: Case, people: dict[str, User]) -> None:
    attachment = actions.do_attach_to_case(
        case, actor=people["worker"], name="../../../etc/passwd.jpg", raw=jpeg()
    )
    assert attachment.original_name == "passwd.jpg"
    assert ".." not in attachment.file.name
    assert attachment.file.name.startswith("cases/")


def test_photos_are_shrunk_to_a_sensible_size(case: Case, people: dict[str, User]) -> None:
    attachment = actions.do_attach_to_case(
        case, actor=people["worker"], name="huge.jpg", raw=jpeg((4000, 3000))
    )
    assert (attachment.width, attachment.height) == (files.MAX_SIDE, 1920)
    with attachment.file.open("rb") as f, Image.open(f) as image:
        assert image.size == (files.MAX_SIDE, 1920)
