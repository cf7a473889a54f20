// The home screen: my grid, what to do, what waits to be sent.

import { currentPosition } from "./geo.js";
import { FieldMap } from "./map.js";
import { records } from "./outbox.js";
import { grids, state } from "./state.js";
import { $, el, fmtDate, fmtWhen, t } from "./ui.js";

let map = null;

function empty(list, text) {
  list.replaceChildren(el("li.empty", {}, text));
}

function renderTasks() {
  const list = $("#home-tasks");
  const tasks = (state.data && state.data.tasks) || [];
  if (!tasks.length) return empty(list, t("no_tasks"));
  list.replaceChildren(...tasks.map((task) => {
    const due = task.due_at ? el("small", {}, t("due", { date: fmtWhen(task.due_at) })) : null;
    const body = el("div.item-body", {},
      el("b", {}, task.kind === "case" ? `${task.number} ${task.title}` : task.title),
      el("small", {}, task.kind === "case" ? task.status_label : fmtWhen(task.time)),
      due);
    return el(`li.item.item-${task.kind}${task.status === "returned" ? ".item-warn" : ""}`, {},
      task.url ? el("a.item-link", { href: task.url }, body) : body);
  }));
}

async function renderCare() {
  const list = $("#home-care");
  const due = (state.data && state.data.care_due) || [];
  if (!due.length) return empty(list, t("no_care_due"));
  const waiting = new Set((await records())
    .filter((r) => r.kind === "visit" && r.state !== "sent" && r.body && r.body.care_tag)
    .map((r) => r.body.care_tag));
  list.replaceChildren(...due.map((item) => el(`li.item${item.overdue ? ".item-warn" : ""}`, {},
    el("div.item-body", {},
      el("b", {}, item.name),
      el("small", {}, [item.group, item.risk].filter(Boolean).join(" · ")),
      el("small", {}, item.overdue ? `${t("overdue")} · ${fmtDate(item.next_visit_due)}` : t("due", { date: fmtDate(item.next_visit_due) }))),
    waiting.has(item.care_tag)
      ? el("span.badge.badge-waiting", {}, t("waiting"))
      : el("a.btn.btn-primary.btn-small", { href: `#visit/care-${item.care_tag}` }, t("kind_visit")))));
}

function renderRecent() {
  const list = $("#home-recent");
  const recent = (state.data && state.data.recent) || {};
  const rows = [
    ...(recent.cases || []).map((c) => ({ at: c.reported_at, kind: t("kind_case"), text: `${c.number} ${c.title}`, note: c.status_label })),
    ...(recent.visits || []).map((v) => ({ at: v.visited_at, kind: t("kind_visit"), text: v.name || v.purpose_label, note: v.purpose_label })),
    ...(recent.patrols || []).map((p) => ({ at: p.started_at, kind: t("kind_patrol"), text: t("minutes", { count: p.minutes }), note: `${p.distance_m} m` })),
  ].sort((a, b) => String(b.at).localeCompare(String(a.at))).slice(0, 12);
  if (!rows.length) return empty(list, t("nothing"));
  list.replaceChildren(...rows.map((row) => el("li.item", {},
    el("div.item-body", {}, el("b", {}, row.text), el("small", {}, `${row.kind} · ${row.note || ""} · ${fmtWhen(row.at)}`)))));
}

function renderMap() {
  const holder = $("#home-map");
  if (!grids().length) return;
  if (!map) {
    map = new FieldMap(holder);
    map.setGrids(grids());
    currentPosition({ timeout: 10000, maximumAge: 60000 })
      .then((p) => map.setMe(p.lat, p.lng, p.accuracy))
      .catch(() => {});
  } else {
    map.refresh();
  }
}

export function renderHome() {
  const names = grids().map((g) => g.name).join("、");
  $("#home-grid").textContent = names;
  $("#home-grid").hidden = !names;
  if (!state.data) {
    for (const id of ["#home-tasks", "#home-care", "#home-recent"]) $(id).replaceChildren();
    return;
  }
  renderTasks();
  renderCare();
  renderRecent();
  renderMap();
}

/** New bootstrap data: the map's grids may have changed. */
export function resetHomeMap() {
  if (map) {
    map.setGrids(grids(), false);
  }
}

export const home = {
  enter() {
    renderHome();
  },
};
