/* civicgrid field work, centre side: patrol tracks, visits and check-ins on a Leaflet map.
   On a grid's page the layers go onto the grid map drawn by map.js (holder.cgMap); on a grid
   worker's page this draws its own map. Vector layers only unless a tile source is configured
   (intranet deployments have no basemap). */
(function () {
  "use strict";
  var node = document.getElementById("cg-field-layers");
  if (!node || typeof L === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var holder = document.getElementById(data.holder);
  if (!holder) { return; }
  var labels = data.labels || {};
  var statusLine = document.getElementById("cg-field-map-status");
  var palette = ["#d81b60", "#1e88e5", "#43a047", "#8e24aa", "#f4511e", "#00897b", "#6d4c41", "#3949ab"];

  function escapeHtml(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var map = holder.cgMap;
  var own = !map;
  if (own) {
    map = L.map(holder, { preferCanvas: true, zoomSnap: 0.25 });
    holder.cgMap = map; // for the browser tests and the console
    map.attributionControl.setPrefix(false);
    if (data.tile && data.tile.url) {
      L.tileLayer(data.tile.url, { attribution: data.tile.attribution || "", maxZoom: 19 }).addTo(map);
    } else {
      holder.classList.add("cg-no-basemap");
      map.attributionControl.addAttribution(escapeHtml(labels.noBasemap));
    }
  }

  // Tracks and points above the grid fills, which map.js adds later on a grid's page.
  if (!map.getPane("cg-field")) { map.createPane("cg-field").style.zIndex = 450; }
  var everything = L.featureGroup();
  (data.grids || []).forEach(function (grid) {
    L.geoJSON(grid.geometry, { style: { color: "#37474f", weight: 2, fillColor: "#90a4ae", fillOpacity: 0.12 } })
      .bindTooltip(escapeHtml(grid.name), { sticky: true })
      .addTo(everything);
  });
  var tracks = data.tracks || [];
  tracks.forEach(function (track, i) {
    var colour = palette[i % palette.length];
    L.polyline(track.points, { pane: "cg-field", color: colour, weight: 3.5, opacity: 0.9 })
      .bindTooltip(escapeHtml(track.label), { sticky: true })
      .addTo(everything);
    L.circleMarker(track.points[0], { pane: "cg-field", radius: 4, color: colour, fillColor: "#fff", fillOpacity: 1, weight: 2 })
      .addTo(everything);
  });
  (data.visits || []).forEach(function (visit) {
    L.circleMarker(visit.at, { pane: "cg-field", radius: 5, color: "#0d47a1", fillColor: "#42a5f5", fillOpacity: 0.9, weight: 1.5 })
      .bindTooltip(escapeHtml(visit.label))
      .addTo(everything);
  });
  (data.checkIns || []).forEach(function (checkIn) {
    var colour = checkIn.inside ? "#2e7d32" : "#c62828";
    L.circleMarker(checkIn.at, { pane: "cg-field", radius: 6, color: colour, fillColor: colour, fillOpacity: 0.35, weight: 2, dashArray: "2 2" })
      .bindTooltip(escapeHtml(checkIn.label))
      .addTo(everything);
  });
  everything.addTo(map);

  var legend = L.control({ position: own ? "bottomright" : "bottomleft" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "cg-field-legend");
    div.setAttribute("id", "cg-field-legend");
    div.innerHTML =
      '<div data-layer="tracks"><i style="background:' + palette[0] + '"></i>' + escapeHtml(labels.tracks) +
      " <strong>" + tracks.length + "</strong></div>" +
      '<div data-layer="visits"><i class="cg-dot" style="background:#42a5f5"></i>' + escapeHtml(labels.visits) +
      " <strong>" + (data.visits || []).length + "</strong></div>" +
      ((data.checkIns || []).length ? '<div data-layer="check-ins"><i class="cg-dot" style="background:#2e7d32"></i>' +
        escapeHtml(labels.checkIns) + " <strong>" + data.checkIns.length + "</strong></div>" : "");
    return div;
  };
  legend.addTo(map);

  holder.setAttribute("data-tracks", String(tracks.length));
  holder.setAttribute("data-visits", String((data.visits || []).length));
  holder.setAttribute("data-check-ins", String((data.checkIns || []).length));
  if (own) {
    var bounds = everything.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 17, padding: [12, 12] }); }
    else { map.setView([37.38, 117.97], 9); }
    if (statusLine && !tracks.length && !(data.visits || []).length && !(data.checkIns || []).length) {
      statusLine.textContent = labels.nothing || "";
    }
  }
}());
