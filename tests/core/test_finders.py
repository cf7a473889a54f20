"""Front-end packages contribute only the files the pages load (core/finders.py)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.test import override_settings

from civicgrid.core.finders import VendorFinder


def test_the_named_file_is_found_and_nothing_else_of_its_package() -> None:
    found = finders.find("vendor/echarts/echarts.min.js")
    assert found and Path(found).name == "echarts.min.js" and Path(found).is_file()
    # The package's other builds sit next to it but are not static files of ours.
    assert (Path(found).parent / "echarts.js").is_file()
    assert not finders.find("vendor/echarts/echarts.js")
    listed = [
        f"{storage.prefix}/{name}"
        for name, storage in VendorFinder().list([])
        if storage.prefix == "vendor/echarts"
    ]
    assert listed == ["vendor/echarts/echarts.min.js"]


def test_a_missing_file_is_a_system_check_error(tmp_path: Path) -> None:
    with override_settings(VENDOR_FILES=[("vendor/x", tmp_path, ["x.min.js"])]):
        errors = VendorFinder().check()
        assert [e.id for e in errors] == ["civicgrid.E001"]
        assert "x.min.js" in errors[0].msg
        (tmp_path / "x.min.js").write_text("//")
        assert VendorFinder().check() == []
        assert finders.find("vendor/x/x.min.js", find_all=True) == [str(tmp_path / "x.min.js")]
