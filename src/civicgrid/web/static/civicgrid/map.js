/* civicgrid map: grids of a subtree as vector polygons coloured by sizing status.
   Works with no basemap (intranet); a tile layer is added only when one is configured. */
(function () {
  "use strict";
  var holder = document.getElementById("cg-map");
  var configNode = document.getElementById("cg-map-config");
  if (!holder || !configNode || typeof L === "undefined") { return; }
  var config = JSON.parse(configNode.textContent);
  var labels = config.labels;
  var statusLine = document.getElementById("cg-map-status");
  var colours = { ok: "#2e7d32", over: "#c62828", under: "#ef6c00", exempt: "#1565c0", unknown: "#757575" };
  var highlight = holder.getAttribute("data-highlight");

  function say(text) { if (statusLine) { statusLine.textContent = text; } }
  function escapeHtml(value) {
    return String(value === null || value === undefined ? "—" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var map = L.map(holder, { preferCanvas: true, zoomSnap: 0.25 });
  holder.cgMap = map; // for the browser tests and the console
  map.attributionControl.setPrefix(false);
  if (config.tile && config.tile.url) {
    L.tileLayer(config.tile.url, { attribution: config.tile.attribution || "", maxZoom: 19 }).addTo(map);
  } else {
    holder.classList.add("cg-no-basemap");
    map.attributionControl.addAttribution(escapeHtml(labels.noBasemap));
  }
  if (config.bbox) {
    map.fitBounds([[config.bbox[1], config.bbox[0]], [config.bbox[3], config.bbox[2]]]);
  } else {
    map.setView([37.38, 117.97], 9);
  }

  var counts = { ok: 0, over: 0, under: 0, exempt: 0, unknown: 0 };
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "cg-legend");
    this._div.setAttribute("id", "cg-legend");
    return this._div;
  };
  legend.update = function (issueCount) {
    var html = "";
    ["ok", "over", "under", "exempt", "unknown"].forEach(function (key) {
      html += '<div data-status="' + key + '"><i class="cg-swatch-' + key + '"></i>' +
        escapeHtml(labels[key]) + " <strong>" + counts[key] + "</strong></div>";
    });
    if (issueCount) {
      html += '<div data-status="issue"><i class="cg-swatch-issue"></i>' + escapeHtml(labels.issue) +
        " <strong>" + issueCount + "</strong></div>";
    }
    this._div.innerHTML = html;
  };
  legend.addTo(map);
  legend.update(0);

  function popup(p) {
    return "<strong>" + escapeHtml(p.name) + "</strong><br><span class='cg-code'>" + escapeHtml(p.code) +
      "</span><br>" + escapeHtml(p.community) + "<br>" + escapeHtml(labels.households) + ": " +
      escapeHtml(p.households) + " · " + escapeHtml(labels.residents) + ": " + escapeHtml(p.residents) +
      "<br>" + escapeHtml(labels[p.sizing]) + "<br><a href='" + config.gridUrl.replace("/0/", "/" + p.id + "/") +
      "'>" + escapeHtml(labels.open) + " ›</a>";
  }

  say(labels.loading);
  fetch(config.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
    .then(function (collection) {
      var focus = null;
      var layer = L.geoJSON(collection, {
        style: function (feature) {
          var p = feature.properties;
          var isFocus = highlight && String(p.id) === highlight;
          return { color: isFocus ? "#000" : "#37474f", weight: isFocus ? 3 : 0.8,
                   fillColor: colours[p.sizing] || colours.unknown, fillOpacity: isFocus ? 0.65 : 0.45 };
        },
        onEachFeature: function (feature, item) {
          counts[feature.properties.sizing] = (counts[feature.properties.sizing] || 0) + 1;
          item.bindPopup(popup(feature.properties));
          item.bindTooltip(escapeHtml(feature.properties.name), { sticky: true });
          if (highlight && String(feature.properties.id) === highlight) { focus = item; }
        }
      }).addTo(map);
      holder.setAttribute("data-grids", String(collection.features.length));
      legend.update(0);
      if (focus) { map.fitBounds(focus.getBounds(), { maxZoom: 17 }); }
      else if (collection.features.length) { map.fitBounds(layer.getBounds()); }
      say(collection.features.length ? collection.features.length + " " + labels.grids : labels.empty);
      return fetch(config.issues + (config.issues.indexOf("?") < 0 ? "?" : "&") + "page_size=1000",
                   { credentials: "same-origin" });
    })
    .then(function (response) { return response && response.ok ? response.json() : { results: [] }; })
    .then(function (page) {
      var shown = 0;
      (page.results || []).forEach(function (issue) {
        if (!issue.geometry) { return; }
        shown += 1;
        L.geoJSON(issue.geometry, { style: { color: "#6a1b9a", weight: 2, dashArray: "4 3",
                                             fillColor: "#6a1b9a", fillOpacity: 0.35 } })
          .bindTooltip(escapeHtml(labels[issue.kind] || issue.kind) + " · " +
                       Math.round(issue.area_m2) + " m²")
          .addTo(map);
      });
      holder.setAttribute("data-issues", String(shown));
      legend.update(shown);
    })
    .catch(function () { say(labels.failed); holder.setAttribute("data-error", "1"); });
}());
