/* The map of one case (its point and grid), or the place picker of the report form. */
(function () {
  "use strict";
  var holder = document.getElementById("cg-case-map");
  var configNode = document.getElementById("cg-case-map-config");
  if (!holder || !configNode || typeof L === "undefined") { return; }
  var config = JSON.parse(configNode.textContent);
  var map = L.map(holder, { preferCanvas: true });
  holder.cgMap = map;
  map.attributionControl.setPrefix(false);
  if (config.tile && config.tile.url) {
    L.tileLayer(config.tile.url, { attribution: config.tile.attribution || "", maxZoom: 19 }).addTo(map);
  }
  var marker = null;
  function place(lat, lng) {
    if (marker) { marker.setLatLng([lat, lng]); } else { marker = L.circleMarker([lat, lng], { radius: 8, color: "#c62828", weight: 3, fillOpacity: 0.6 }).addTo(map); }
  }
  if (config.point) {
    place(config.point[0], config.point[1]);
    map.setView(config.point, 16);
  } else {
    map.setView([37.38, 117.97], 11);
  }
  if (config.grid) {
    fetch(config.grid, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (!fc || !fc.features.length) { return; }
        var layer = L.geoJSON(fc, { style: { color: "#123a63", weight: 2, fillOpacity: 0.08 } }).addTo(map);
        if (!config.point) { map.fitBounds(layer.getBounds()); }
      });
  }
  if (holder.getAttribute("data-pick")) {
    var lat = document.getElementById("id_lat");
    var lng = document.getElementById("id_lng");
    var status = document.getElementById("cg-point-status");
    var crs = document.getElementById("cg-crs");
    var set = function (la, ln, datum) {
      lat.value = la.toFixed(7); lng.value = ln.toFixed(7); place(la, ln);
      // Clicks are in the basemap's datum; GPS positions are always WGS-84.
      if (crs) { crs.value = datum || "wgs84"; }
      if (status) { status.textContent = config.labels.picked.replace("%(lat)s", la.toFixed(5)).replace("%(lng)s", ln.toFixed(5)); }
    };
    if (lat.value && lng.value) { set(parseFloat(lat.value), parseFloat(lng.value)); map.setView([parseFloat(lat.value), parseFloat(lng.value)], 16); }
    map.on("click", function (e) { set(e.latlng.lat, e.latlng.lng, config.tile.crs); });
    var me = document.getElementById("cg-locate-me");
    if (me) {
      me.addEventListener("click", function () {
        if (!navigator.geolocation) { status.textContent = config.labels.noPosition; return; }
        navigator.geolocation.getCurrentPosition(function (p) {
          set(p.coords.latitude, p.coords.longitude, "wgs84"); map.setView([p.coords.latitude, p.coords.longitude], 17);
        }, function () { status.textContent = config.labels.noPosition; }, { enableHighAccuracy: true, timeout: 10000 });
      });
    }
  }
}());
