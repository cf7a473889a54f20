// A patrol: start, a GPS track while walking, stop. The track is written to IndexedDB as it
// grows (meta "patrol:<user id>"), so a reload, a crash or a flat battery keeps what was walked;
// opening the app again resumes recording. It becomes an outbox record only when saved.

import * as api from "./api.js";
import { distance, trackLength, watch } from "./geo.js";
import { FieldMap } from "./map.js";
import * as outbox from "./outbox.js";
import { PhotoPicker } from "./photos.js";
import { emit, grids, settings, state } from "./state.js";
import * as store from "./store.js";
import { $, isoLocal, option, showErrors, t, toast, uuid4 } from "./ui.js";

const MAX_ACCURACY_M = 100; // worse fixes are shown but not recorded
const MIN_STEP_M = 20; // a new point before track_seconds when this far from the last
const MAX_POINTS = 20000; // the server's limit

let current = null; // {startedAt, startedMs, points, grid, stopped, endedAt}
let unwatch = null;
let lock = null;
let map = null;
let clock = 0;
let picker = null;

const key = () => `patrol:${state.user.id}`;

async function persist() {
  await store.setMeta({ [key()]: current || undefined });
  emit("patrol");
}

async function keepAwake() {
  try {
    if (navigator.wakeLock && document.visibilityState === "visible" && !lock) {
      lock = await navigator.wakeLock.request("screen");
      lock.addEventListener("release", () => { lock = null; });
    }
  } catch (error) { /* not allowed: the screen may sleep and the GPS with it */ }
}

function onPosition(p) {
  if (!current || current.stopped) return;
  $("#patrol-gps").textContent = t("position", { lat: p.lat.toFixed(5), lng: p.lng.toFixed(5), acc: Math.round(p.accuracy || 0) });
  if (map) map.setMe(p.lat, p.lng, p.accuracy);
  if (p.accuracy > MAX_ACCURACY_M || current.points.length >= MAX_POINTS) return;
  const at = Math.round(p.at / 1000);
  const last = current.points[current.points.length - 1];
  if (last && at - last[2] < settings().track_seconds && distance(last, [p.lat, p.lng]) < MIN_STEP_M) return;
  current.points.push([p.lat, p.lng, at]);
  persist();
  if (!$("#screen-patrol").hidden) render();
}

function startWatching() {
  if (unwatch) return;
  unwatch = watch(onPosition, () => { $("#patrol-gps").textContent = t("no_gps"); });
  keepAwake();
}

function stopWatching() {
  if (unwatch) unwatch();
  unwatch = null;
  if (lock) lock.release();
  lock = null;
}

function summary() {
  if (!current) return "";
  const end = current.stopped && current.endedAt ? new Date(current.endedAt).getTime() : Date.now();
  return t("patrol_summary", {
    minutes: Math.max(0, Math.round((end - current.startedMs) / 60000)),
    km: (trackLength(current.points) / 1000).toFixed(2),
    points: current.points.length,
  });
}

function tick() {
  if (!current || current.stopped) return;
  const seconds = Math.floor((Date.now() - current.startedMs) / 1000);
  const h = Math.floor(seconds / 3600);
  const m = String(Math.floor((seconds % 3600) / 60)).padStart(2, "0");
  const s = String(seconds % 60).padStart(2, "0");
  $("#patrol-clock").textContent = h ? `${h}:${m}:${s}` : `${m}:${s}`;
}

function render() {
  const phase = !current ? "idle" : current.stopped ? "finish" : "running";
  for (const node of document.querySelectorAll("[data-patrol]")) node.hidden = node.dataset.patrol !== phase;
  const field = $("#screen-patrol [data-grid-field]");
  field.hidden = grids().length < 2;
  if (phase === "idle") {
    $("#patrol-grid").replaceChildren(...grids().map((g) => option(g.id, g.name)));
  }
  if (phase === "running") {
    $("#patrol-summary").textContent = current.points.length ? summary() : t("patrol_no_points");
    $("#patrol-summary").dataset.points = current.points.length;
    tick();
    if (!map) {
      map = new FieldMap($("#patrol-map"));
      map.setGrids(grids());
    }
    map.refresh();
    map.setTrack(current.points);
  }
  if (phase === "finish") {
    $("[data-patrol-result]").textContent = summary();
  }
}

let loadedFor = null;

/** Once the user is known: carry on recording a patrol that was running. Read from the phone
 * once per user — later, the copy in memory is the newer one. */
export async function resumePatrol() {
  const user = state.user ? state.user.id : null;
  if (user === loadedFor) return;
  stopWatching();
  loadedFor = user;
  current = user === null ? null : (await store.getMeta(key())) || null;
  if (current && !current.stopped) startWatching();
  emit("patrol");
}

export function patrolRunning() {
  return Boolean(current && !current.stopped);
}

async function start() {
  current = {
    startedAt: isoLocal(), startedMs: Date.now(), points: [],
    grid: grids().length > 1 ? $("#patrol-grid").value : undefined, stopped: false, endedAt: null,
  };
  await persist();
  startWatching();
  render();
}

async function stop() {
  stopWatching();
  current.stopped = true;
  current.endedAt = isoLocal();
  await persist();
  render();
}

async function resume() {
  current.stopped = false;
  current.endedAt = null;
  await persist();
  startWatching();
  render();
}

async function discard() {
  if (!window.confirm(t("confirm_leave_patrol"))) return;
  stopWatching();
  current = null;
  picker.clear();
  await persist();
  render();
}

async function save(event) {
  event.preventDefault();
  const form = $("#form-patrol");
  if (new Date(current.endedAt) <= new Date(current.startedAt)) {
    showErrors(form, { form: t("patrol_too_short") });
    return;
  }
  const photos = await picker.ready();
  const body = api.patrolBody({
    uuid: uuid4(),
    startedAt: current.startedAt,
    endedAt: current.endedAt,
    track: current.points,
    note: form.note.value.trim(),
    photos: photos.map((p) => p.uuid),
    grid: current.grid,
  });
  await outbox.save("patrol", body, photos, summary());
  current = null;
  await persist();
  form.reset();
  picker.clear();
  showErrors(form, {});
  render();
  toast(navigator.onLine ? t("saved_sending") : t("saved"), "ok");
  window.location.hash = "#home";
  outbox.sync({ force: true });
}

export const patrol = {
  init() {
    picker = new PhotoPicker($("#form-patrol"));
    $("#patrol-start").addEventListener("click", start);
    $("#patrol-stop").addEventListener("click", stop);
    $("#patrol-resume").addEventListener("click", resume);
    $("#patrol-discard").addEventListener("click", discard);
    $("#form-patrol").addEventListener("submit", save);
    document.addEventListener("visibilitychange", () => { if (patrolRunning()) keepAwake(); });
  },
  enter() {
    render();
    clearInterval(clock);
    clock = setInterval(tick, 1000);
  },
  leave() {
    clearInterval(clock);
  },
};
