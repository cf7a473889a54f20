// Leaflet maps of the grid: boundary, my position, a point to pick, a patrol's track. Without a
// configured basemap (intranets) the map draws the vector layers alone. Tiles are not kept
// offline; the boundary comes from the phone's copy of the bootstrap, so it always shows.

import { fromGcj, toGcj } from "./geo.js";
import { CONFIG } from "./ui.js";

const GCJ = Boolean(CONFIG.tile.url) && CONFIG.tile.crs === "gcj02";
const shown = (lat, lng) => (GCJ ? toGcj(lat, lng) : [lat, lng]);
const picked = (lat, lng) => (GCJ ? fromGcj(lat, lng) : [lat, lng]);

function shownGeometry(geometry) {
  if (!GCJ) return geometry;
  const walk = (c) => (typeof c[0] === "number" ? (([la, ln]) => [ln, la])(toGcj(c[1], c[0])) : c.map(walk));
  return { type: geometry.type, coordinates: walk(geometry.coordinates) };
}

export class FieldMap {
  constructor(holder) {
    this.holder = holder;
    this.map = L.map(holder, { preferCanvas: true, zoomControl: true, attributionControl: Boolean(CONFIG.tile.url) });
    holder.cgMap = this.map; // for tests and debugging
    if (CONFIG.tile.url) {
      L.tileLayer(CONFIG.tile.url, { attribution: CONFIG.tile.attribution, maxZoom: 19 }).addTo(this.map);
    }
    this.boundary = null;
    this.point = null;
    this.me = null;
    this.track = null;
    this.map.setView([35, 105], 4);
  }

  setGrids(grids, fit = true) {
    if (this.boundary) this.boundary.remove();
    const features = grids.filter((g) => g.boundary).map((g) => ({ type: "Feature", properties: {}, geometry: shownGeometry(g.boundary) }));
    this.boundary = L.geoJSON({ type: "FeatureCollection", features }, {
      style: { color: "#123a63", weight: 3, fillColor: "#ffd54f", fillOpacity: 0.12 },
      interactive: false,
    }).addTo(this.map);
    if (!fit) return;
    if (features.length) {
      this.map.fitBounds(this.boundary.getBounds(), { padding: [12, 12] });
    } else {
      const centre = grids.find((g) => g.centre);
      if (centre) this.map.setView(shown(...centre.centre), 16);
    }
  }

  setPoint(lat, lng, { pan = true } = {}) {
    const at = shown(lat, lng);
    if (this.point) this.point.setLatLng(at);
    else this.point = L.circleMarker(at, { radius: 10, color: "#c62828", weight: 4, fillOpacity: 0.5 }).addTo(this.map);
    if (pan) this.map.setView(at, Math.max(this.map.getZoom(), 16));
  }

  setMe(lat, lng, accuracy) {
    const at = shown(lat, lng);
    if (!this.me) {
      this.meCircle = L.circle(at, { radius: accuracy || 0, color: "#1e88e5", weight: 1, fillOpacity: 0.1, interactive: false }).addTo(this.map);
      this.me = L.circleMarker(at, { radius: 7, color: "#fff", weight: 2, fillColor: "#1e88e5", fillOpacity: 1, interactive: false }).addTo(this.map);
    } else {
      this.me.setLatLng(at);
      this.meCircle.setLatLng(at).setRadius(accuracy || 0);
    }
  }

  setTrack(points) {
    const line = points.map(([lat, lng]) => shown(lat, lng));
    if (this.track) this.track.setLatLngs(line);
    else this.track = L.polyline(line, { color: "#c62828", weight: 5, opacity: 0.8 }).addTo(this.map);
    if (line.length) this.map.panTo(line[line.length - 1]);
  }

  /** Taps on the map: callback(lat, lng) in WGS-84. */
  onPick(callback) {
    this.map.on("click", (event) => callback(...picked(event.latlng.lat, event.latlng.lng)));
  }

  /** After the holder was hidden: Leaflet measures its size only when told. */
  refresh() {
    this.map.invalidateSize();
  }
}
