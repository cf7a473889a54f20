"""The centre side of field work in a real headless Chromium, on the demo city: a grid's page
draws this month's patrol tracks on its map, the duties page shows each grid worker's figures,
and a worker's page draws their tracks, visits and check-ins."""

from __future__ import annotations

from typing import Any

import pytest

from civicgrid.accounts.models import User
from civicgrid.demo.city import plan_city
from civicgrid.demo.load import DEMO_PASSWORD, load_city
from civicgrid.fieldwork import duties

from .conftest import artifact, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Pixels of the map's canvas in the colour of the first track (#d81b60), and how many are
# painted at all: the grids are drawn on the same canvas.
TRACK_PIXELS = """(holder) => {
  let track = 0, painted = 0;
  for (const canvas of holder.querySelectorAll('canvas')) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) { continue; }
      painted++;
      const r = data[i], g = data[i + 1], b = data[i + 2];
      if (r > 170 && g < 90 && b > 60 && b < 140) { track++; }
    }
  }
  return {track, painted};
}"""


def test_grid_page_draws_tracks_and_the_duties_page_shows_figures(page: Any) -> None:
    load_city(plan_city("small", 1))
    worker = User.objects.get(username="gridworker")
    found = duties.duties(worker.division, duties.month_period(), worker=worker.pk)
    row = found.rows[0]
    assert row.patrols > 0
    log_in(page, "township", DEMO_PASSWORD)

    # The grid's page: the field work card and this month's tracks on the grid map.
    page.goto(f"{page.base}/divisions/{worker.division_id}/")
    holder = page.wait_for_selector("#cg-map[data-tracks][data-grids]")
    assert int(holder.get_attribute("data-tracks")) == row.patrols
    page.wait_for_timeout(300)  # the map settles on the grid after its outlines load
    pixels = holder.evaluate(TRACK_PIXELS)
    assert pixels["track"] > 50, pixels
    card = page.locator("#cg-field-card")
    assert card.locator('[data-figure="patrols"]').inner_text().startswith(str(row.patrols))
    page.screenshot(path=str(artifact("field-grid.png")), full_page=True)

    # The duties page: the worker's row with their figures.
    page.goto(f"{page.base}/field/duties/")
    line = page.locator(f'#cg-duties tr[data-worker="{worker.pk}"]')
    assert line.locator('[data-col="patrols"]').inner_text() == str(row.patrols)
    assert line.locator('[data-col="done"]').inner_text() == str(row.visits_done)
    assert line.locator('[data-col="visits"]').inner_text() == str(row.visits)
    assert line.locator('[data-col="due"]').inner_text() == str(row.visits_due)
    page.screenshot(path=str(artifact("field-duties.png")), full_page=True)

    # From the row to the worker's page: tracks, visits and check-ins on its own map.
    line.locator('[data-col="worker"] a').click()
    page.wait_for_url(f"**/field/workers/{worker.pk}/**")
    own = page.wait_for_selector("#cg-field-map[data-tracks]")
    assert int(own.get_attribute("data-tracks")) == row.patrols
    assert int(own.get_attribute("data-visits")) > 0
    assert page.locator(".leaflet-tile").count() == 0  # no basemap on an intranet
    pixels = own.evaluate(TRACK_PIXELS)
    assert pixels["track"] > 50, pixels
    assert page.locator("#cg-visits tbody tr").count() == row.visits
    page.screenshot(path=str(artifact("field-worker.png")), full_page=True)
    assert page.errors == []
