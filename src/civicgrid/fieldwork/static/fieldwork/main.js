// The field app: start-up, screens, the status chip and banners, and when to sync.

import * as api from "./api.js";
import { formScreens } from "./forms.js";
import { home, renderHome, resetHomeMap } from "./home.js";
import * as outbox from "./outbox.js";
import { outboxView } from "./outbox_view.js";
import { patrol, patrolRunning, resumePatrol } from "./patrol.js";
import { residents } from "./residents.js";
import * as session from "./session.js";
import { on, state } from "./state.js";
import { $, $$, CONFIG, el, fmtWhen, t } from "./ui.js";

const SYNC_TICK_MS = 20_000;
const REFRESH_MS = 10 * 60_000;
const MINUTE = 60_000;

let updateReady = false;
let current = null;
let screens = null;

// --- screens ---------------------------------------------------------------------------------

function route() {
  const [name, arg] = window.location.hash.replace(/^#\/?/, "").split("/");
  let wanted = screens[name] ? name : "home";
  // Without the user's data there is nothing to work with yet.
  if (!state.data) wanted = "home";
  if (current && current !== wanted && screens[current].leave) screens[current].leave();
  for (const section of $$(".screen")) section.hidden = section.id !== `screen-${wanted}`;
  const section = $(`#screen-${wanted}`);
  $("#cg-title").textContent = section.dataset.title;
  $("#cg-back").hidden = wanted === "home";
  if (current !== wanted) window.scrollTo(0, 0);
  current = wanted;
  screens[wanted].enter(arg ? decodeURIComponent(arg) : undefined);
}

// --- status ----------------------------------------------------------------------------------

async function renderCounts() {
  const { waiting, failed } = await outbox.counts();
  $("#count-waiting").textContent = waiting;
  $("#count-failed").textContent = failed;
  $("#count-failed").closest(".counter").classList.toggle("has-failed", failed > 0);
  $("#tile-outbox-count").textContent = waiting || failed
    ? [waiting ? t("n_waiting", { count: waiting }) : "", failed ? t("n_failed", { count: failed }) : ""].filter(Boolean).join(" · ")
    : "";
  const online = navigator.onLine;
  const chip = $("#cg-chip");
  chip.className = `chip ${!online ? "chip-offline" : state.syncing ? "chip-busy" : failed ? "chip-failed" : "chip-online"}`;
  // Short, so the title keeps its room: the state, and what waits or failed.
  const parts = [!online ? t("offline") : state.syncing ? t("syncing") : t("online")];
  if (waiting) parts.push(t("n_waiting", { count: waiting }));
  if (failed) parts.push(t("n_failed", { count: failed }));
  $("#cg-chip-text").textContent = parts.join(" · ");
  chip.title = !waiting && !failed && state.user ? t("all_sent") : "";
  const contact = state.lastContact ? t("last_sync", { time: fmtWhen(state.lastContact) }) : t("never_synced");
  $("#sync-status").textContent = state.syncing && state.progress ? state.progress
    : !waiting && !failed && state.user ? `${t("all_sent")} · ${contact}` : contact;
  $("#sync-now").disabled = state.syncing;
  $("#tile-patrol-state").textContent = patrolRunning() ? t("patrol_running") : "";
}

function banner(kind, text, action) {
  const node = el(`div.banner.banner-${kind}`, {}, el("span", {}, text));
  if (action) node.append(action);
  return node;
}

function renderBanners() {
  const list = [];
  const login = el("a.btn.btn-small.btn-primary", { href: CONFIG.login }, t("login_button"));
  if (state.wiped) list.push(banner("danger", t("wiped"), login));
  else if (state.auth === "login") list.push(banner("warn", [t("login_again"), state.authMessage].filter(Boolean).join(" "), login));
  else if (state.auth === "unconfirmed") list.push(banner("warn", navigator.onLine ? t("checking_user") : t("confirm_online")));
  else if (state.auth === "unknown" && !state.data) list.push(banner("info", navigator.onLine ? t("checking_user") : t("first_load")));
  const left = session.hoursLeft();
  if (left !== null && state.user) list.push(banner("warn", t("wipe_soon", { hours: left })));
  if (updateReady) {
    list.push(banner("info", t("update_ready"), el("button.btn.btn-small.btn-primary", { type: "button", onclick: () => window.location.reload() }, "↻")));
  }
  $("#cg-banners").replaceChildren(...list);
  document.body.classList.toggle("no-data", !state.data);
}

function renderAll() {
  renderBanners();
  renderCounts();
  if (current === "home") renderHome();
}

// --- sync ------------------------------------------------------------------------------------

async function syncAndRefresh({ force = true } = {}) {
  if (state.auth !== "ok") {
    await session.refresh();
  }
  const { sent } = await outbox.sync({ force });
  // What was just sent changes the tasks, the care visits due and the recent list.
  if (sent || force) await session.refresh();
}

function startTimers() {
  setInterval(async () => {
    if (navigator.onLine && state.auth === "ok" && (await outbox.due())) outbox.sync();
  }, SYNC_TICK_MS);
  setInterval(() => { if (navigator.onLine) session.refresh(); }, REFRESH_MS);
  setInterval(async () => {
    await session.checkExpiry();
    renderAll();
  }, MINUTE);
  window.addEventListener("online", () => { renderAll(); syncAndRefresh(); });
  window.addEventListener("offline", renderAll);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || !navigator.onLine) return;
    if (state.auth !== "ok") session.refresh().then(() => outbox.sync());
    else outbox.sync();
  });
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  let controlled = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first worker taking over is the install; a later one is a new version.
    if (controlled) {
      updateReady = true;
      renderBanners();
    }
    controlled = true;
  });
  navigator.serviceWorker.register(CONFIG.sw, { scope: CONFIG.shell }).catch(() => {});
}

// --- start -----------------------------------------------------------------------------------

async function start() {
  api.setLanguage(CONFIG.language);
  const forms = formScreens();
  screens = {
    home,
    report: forms.report,
    visit: forms.visit,
    checkin: forms.checkin,
    resident: forms.resident,
    residents,
    patrol,
    outbox: outboxView,
  };
  for (const screen of Object.values(screens)) if (screen.init) screen.init();

  on("outbox", renderCounts);
  on("sync", renderCounts);
  on("progress", renderCounts);
  on("patrol", renderCounts);
  on("contact", renderCounts);
  on("auth", () => { renderBanners(); renderCounts(); });
  let hadData = Boolean(state.data);
  on("data", async () => {
    resetHomeMap();
    await resumePatrol();
    // A form being filled in keeps its state; the home screen (or the first data) redraws.
    if (current === "home" || !hadData || !state.data) route();
    hadData = Boolean(state.data);
    renderAll();
  });

  $("#cg-chip").addEventListener("click", () => syncAndRefresh());
  $("#sync-now").addEventListener("click", () => syncAndRefresh());
  $("#cg-logout").addEventListener("click", () => session.logout());
  $("#cg-language").addEventListener("change", async (event) => {
    if (!(await session.switchLanguage(event.target.value))) event.target.value = CONFIG.language;
  });
  window.addEventListener("hashchange", route);

  await session.load();
  hadData = Boolean(state.data);
  await resumePatrol();
  route();
  renderAll();
  registerWorker();
  startTimers();
  if (navigator.onLine || !state.data) {
    await session.refresh();
    await outbox.sync({ force: true });
  }
  renderAll();
  document.body.dataset.started = "1";
}

start();
