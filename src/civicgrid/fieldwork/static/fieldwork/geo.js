// Positions: the phone's GPS, distances, "is this point in my grid", and the GCJ-02 datum that
// Chinese basemaps are drawn in (everything the app stores and sends is WGS-84, as GPS gives it).

export function currentPosition({ timeout = 15000, maximumAge = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lng: p.coords.longitude, accuracy: p.coords.accuracy, at: p.timestamp }),
      reject,
      { enableHighAccuracy: true, timeout, maximumAge },
    );
  });
}

export function watch(onPosition, onError) {
  if (!navigator.geolocation) { onError(new Error("no geolocation")); return () => {}; }
  const id = navigator.geolocation.watchPosition(
    (p) => onPosition({ lat: p.coords.latitude, lng: p.coords.longitude, accuracy: p.coords.accuracy, at: p.timestamp }),
    onError,
    { enableHighAccuracy: true, maximumAge: 5000, timeout: 60000 },
  );
  return () => navigator.geolocation.clearWatch(id);
}

/** Metres between two [lat, lng] points (haversine, as the server computes distances). */
export function distance(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLng = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function trackLength(points) {
  let total = 0;
  for (let i = 1; i < points.length; i += 1) total += distance(points[i - 1], points[i]);
  return total;
}

function inRing(lng, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether a point lies in a GeoJSON Polygon/MultiPolygon (the phone's own estimate; the
 * server decides with its index). */
export function contains(geometry, lat, lng) {
  if (!geometry) return false;
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polygons.some((rings) => inRing(lng, lat, rings[0]) && !rings.slice(1).some((hole) => inRing(lng, lat, hole)));
}

// --- GCJ-02 (as geo/coords.py) ---------------------------------------------------------------
const A = 6378245.0;
const EE = 0.00669342162296594323;

function outsideChina(lng, lat) {
  return !(lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
}

function delta(lng, lat) {
  const x = lng - 105.0;
  const y = lat - 35.0;
  const { sin, sqrt, abs, PI } = Math;
  let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(abs(x))
    + ((20.0 * sin(6.0 * x * PI) + 20.0 * sin(2.0 * x * PI)) * 2.0) / 3.0
    + ((20.0 * sin(y * PI) + 40.0 * sin((y / 3.0) * PI)) * 2.0) / 3.0
    + ((160.0 * sin((y / 12.0) * PI) + 320 * sin((y * PI) / 30.0)) * 2.0) / 3.0;
  let dLng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(abs(x))
    + ((20.0 * sin(6.0 * x * PI) + 20.0 * sin(2.0 * x * PI)) * 2.0) / 3.0
    + ((20.0 * sin(x * PI) + 40.0 * sin((x / 3.0) * PI)) * 2.0) / 3.0
    + ((150.0 * sin((x / 12.0) * PI) + 300.0 * sin((x / 30.0) * PI)) * 2.0) / 3.0;
  const radLat = (lat / 180.0) * PI;
  const magic = 1 - EE * sin(radLat) ** 2;
  const sqrtMagic = sqrt(magic);
  dLat = (dLat * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * PI);
  dLng = (dLng * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * PI);
  return [dLng, dLat];
}

export function toGcj(lat, lng) {
  if (outsideChina(lng, lat)) return [lat, lng];
  const [dLng, dLat] = delta(lng, lat);
  return [lat + dLat, lng + dLng];
}

export function fromGcj(lat, lng) {
  if (outsideChina(lng, lat)) return [lat, lng];
  let [wLat, wLng] = [lat, lng];
  for (let i = 0; i < 30; i += 1) {
    const [gLat, gLng] = toGcj(wLat, wLng);
    const [eLat, eLng] = [gLat - lat, gLng - lng];
    wLat -= eLat;
    wLng -= eLng;
    if (Math.abs(eLat) < 1e-10 && Math.abs(eLng) < 1e-10) break;
  }
  return [wLat, wLng];
}
