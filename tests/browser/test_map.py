"""Log in, open the map, see the grids — in a real headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from civicgrid.demo.city import plan_city
from civicgrid.demo.load import DEMO_PASSWORD, load_city
from civicgrid.geo.models import Division, Grid

from .conftest import artifact, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "map.png"

# Pixels the canvas renderer painted, and how many distinct colours they use.
PAINTED = """(holder) => {
  const canvas = holder.querySelector('canvas');
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0; const colours = new Set();
  for (let i = 0; i < data.length; i += 16) {
    if (data[i + 3] > 0) {
      painted++;
      colours.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
    }
  }
  return {painted, colours: colours.size, total: data.length / 16};
}"""


def test_city_staff_sees_every_grid_coloured_by_sizing(page):
    load_city(plan_city("small", 1))
    with_boundary = Grid.objects.filter(division__boundary__isnull=False).count()
    log_in(page, "city", DEMO_PASSWORD)
    page.goto(page.base + "/map/?under=371600")
    holder = page.wait_for_selector("#cg-map[data-grids][data-issues]")
    assert int(holder.get_attribute("data-grids")) == with_boundary > 0
    # The demo city carries one injected gap and one overlap; both are drawn.
    assert int(holder.get_attribute("data-issues")) >= 2
    legend = page.locator("#cg-legend")
    counted = sum(
        int(legend.locator(f"[data-status={s}] strong").inner_text())
        for s in ("ok", "over", "under", "exempt", "unknown")
    )
    assert counted == with_boundary
    pixels = holder.evaluate(PAINTED)
    assert pixels["painted"] > pixels["total"] * 0.05, pixels
    assert pixels["colours"] >= 3, pixels  # fills in several sizing colours, not one blot
    # No basemap is configured: the map says so and fetched no tiles.
    assert page.locator(".leaflet-tile").count() == 0
    assert page.errors == []
    shot = artifact("map.png")
    page.screenshot(path=str(shot))
    if os.environ.get("CIVICGRID_UPDATE_SCREENSHOTS") or not README_SHOT.exists():
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOT)


def test_clicking_a_grid_opens_its_page(page):
    load_city(plan_city("small", 1))
    grid = Division.objects.filter(level=6, boundary__isnull=False).order_by("code").first()
    log_in(page, "county", DEMO_PASSWORD)
    page.goto(page.base + f"/map/?under={grid.parent.code}")
    holder = page.wait_for_selector("#cg-map[data-grids]")
    point = holder.evaluate(
        "(h, ll) => { const p = h.cgMap.latLngToContainerPoint(ll); return [p.x, p.y]; }",
        [grid.centroid_lat, grid.centroid_lng],
    )
    box = holder.bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    popup = page.wait_for_selector(".leaflet-popup-content")
    assert grid.name in popup.inner_text()
    popup.query_selector("a").click()
    page.wait_for_url(f"**/divisions/{grid.pk}/")
    assert grid.code in page.content()


def test_grid_worker_sees_only_their_grid(page):
    load_city(plan_city("small", 1))
    log_in(page, "gridworker", DEMO_PASSWORD)
    page.goto(page.base + "/map/")
    holder = page.wait_for_selector("#cg-map[data-grids]")
    assert holder.get_attribute("data-grids") == "1"
    other = Division.objects.filter(level=3).first()
    response = page.goto(page.base + f"/divisions/{other.pk}/")
    assert response.status == 404
