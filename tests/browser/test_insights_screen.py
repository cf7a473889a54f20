"""The big screen in a real headless Chromium at 1920×1080: charts drawn from the demo city's
cases (checked in the ECharts options and in the canvas pixels), the map of the subordinate
divisions, drilling down by clicking the map and going back up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from shapely.geometry import shape

from civicgrid.demo.city import plan_city
from civicgrid.demo.load import DEMO_PASSWORD, load_city
from civicgrid.geo.models import Division

from .conftest import artifact, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Painted pixels of a chart's canvas (the charts have a transparent background).
PAINTED = """(id) => {
  const canvas = document.getElementById(id).querySelector('canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0; const colours = new Set();
  for (let i = 0; i < data.length; i += 16) {
    if (data[i + 3] > 0) {
      painted++;
      colours.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
    }
  }
  return {painted, colours: colours.size, total: data.length / 16};
}"""
SERIES = (
    """(id) => echarts.getInstanceByDom(document.getElementById(id)).getOption().series[0].data"""
)


@pytest.fixture
def screen(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    page.base = live_server.url  # type: ignore[attr-defined]
    yield page
    context.close()


def click_division(page: Any, division: Division) -> None:
    """Click a point inside the division's outline on the Leaflet map."""
    point = shape(division.boundary).representative_point()
    holder = page.locator("#cg-screen-map")
    xy = holder.evaluate(
        "(h, ll) => { const p = h.cgMap.latLngToContainerPoint(ll); return [p.x, p.y]; }",
        [point.y, point.x],
    )
    box = holder.bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def loaded(page: Any, code: str) -> None:
    page.wait_for_selector(f"#cg-stage[data-area='{code}'][data-loads]:not([data-loads='0'])")
    page.wait_for_function(
        "(code) => window.cgScreen && window.cgScreen.state.data &&"
        " window.cgScreen.state.data.area.code === code",
        arg=code,
    )


def test_big_screen_draws_the_charts_and_drills_down(screen: Any) -> None:
    page = screen
    load_city(plan_city("small", 1))
    city = Division.objects.get(code="371600")
    county = Division.objects.filter(parent=city, boundary__isnull=False).order_by("code").first()
    assert county is not None
    township = (
        Division.objects.filter(parent=county, boundary__isnull=False).order_by("code").first()
    )
    assert township is not None
    today = timezone.localdate()
    since = today - dt.timedelta(days=89)

    log_in(page, "city", DEMO_PASSWORD)
    page.goto(
        page.base
        + f"/insights/screen/?period=custom&from={since.isoformat()}&to={today.isoformat()}"
    )
    loaded(page, city.code)
    assert page.locator("#cg-area-name").inner_text() == city.name
    page.wait_for_timeout(1500)  # let the charts' entry animation finish before reading pixels

    trend = page.evaluate(SERIES, "cg-chart-trend")
    assert len(trend) == 30 and sum(trend) > 0
    categories = page.evaluate(SERIES, "cg-chart-category")
    assert len(categories) > 0 and sum(c["value"] for c in categories) > 0
    ranking = page.evaluate(SERIES, "cg-chart-ranking")
    assert len(ranking) == Division.objects.filter(parent=city, is_active=True).count()
    for chart in ("cg-chart-trend", "cg-chart-category", "cg-chart-ranking"):
        pixels = page.evaluate(PAINTED, chart)
        assert pixels["painted"] > pixels["total"] * 0.01, (chart, pixels)
        assert pixels["colours"] >= 3, (chart, pixels)
    tiles = page.locator("#cg-tiles .cg-s-tile")
    assert tiles.count() == 8
    assert page.locator("#cg-tiles [data-kpi=reported] .cg-s-tile-value").inner_text() != "0"
    holder = page.locator("#cg-screen-map")
    assert int(holder.get_attribute("data-features")) >= 1
    assert int(holder.get_attribute("data-cases")) > 0
    assert page.locator("#cg-ticker .cg-s-case").count() > 0
    assert page.locator("#cg-up").is_disabled()  # the city is the staff's top
    page.screenshot(path=str(artifact("insights-screen.png")))

    # Drill down by clicking the map: the county, then one of its townships.
    click_division(page, county)
    loaded(page, county.code)
    assert page.locator("#cg-area-name").inner_text() == county.name
    assert f"division={county.code}" in page.url
    click_division(page, township)
    loaded(page, township.code)
    assert page.locator("#cg-area-name").inner_text() == township.name
    page.wait_for_timeout(1200)
    page.screenshot(path=str(artifact("insights-screen-township.png")))
    # And back up one level.
    page.click("#cg-up")
    loaded(page, county.code)
    assert page.locator("#cg-area-name").inner_text() == county.name
    assert page.errors == []  # type: ignore[attr-defined]


def test_dashboard_figure_opens_its_cases(page: Any) -> None:
    load_city(plan_city("small", 1))
    log_in(page, "county", DEMO_PASSWORD)
    page.goto(page.base + "/insights/?period=year")
    page.wait_for_selector("#cg-tiles")
    page.screenshot(path=str(artifact("insights-dashboard.png")), full_page=True)
    link = page.locator("#cg-rows tfoot td[data-kpi=reported] a")
    shown = int(link.inner_text().replace(",", ""))
    assert shown > 0
    link.click()
    page.wait_for_selector("#cg-figure[data-kpi=reported]")
    assert int(page.locator("#cg-count").inner_text()) == shown
    page.screenshot(path=str(artifact("insights-cases.png")))
    assert page.errors == []  # type: ignore[attr-defined]
