// The outbox screen: every record on the phone with its state and, when it failed, why.

import * as outbox from "./outbox.js";
import { on, state } from "./state.js";
import { $, el, fmtTime, fmtWhen, t } from "./ui.js";

const EDIT_ROUTE = {
  case: (uuid) => `#report/${uuid}`,
  visit: (uuid) => `#visit/${uuid}`,
  resident: (uuid) => `#resident/edit-${uuid}`,
};

function resultText(record) {
  const r = record.result || {};
  if (record.kind === "case" && r.number) return t("result_case", { number: r.number, status: r.status_label || "" });
  if (record.kind === "patrol" && r.minutes !== undefined) return t("result_patrol", { minutes: r.minutes, distance: r.distance_m });
  if (record.kind === "check_in" && r.inside_grid !== undefined) return r.inside_grid ? t("result_check_in_in") : t("result_check_in_out");
  return t("sent_now");
}

function item(record) {
  const stateLabel = t(record.state === "sending" ? "sending" : record.state);
  const photos = (record.body && record.body.photos && record.body.photos.length) || record.photoCount || 0;
  const lines = [
    el("div.outbox-head", {},
      el("b", {}, t(`kind_${record.kind}`)),
      el(`span.badge.badge-${record.state}`, {}, stateLabel)),
    el("p.outbox-summary", {}, record.summary || ""),
    el("small.muted", {}, [fmtWhen(record.created), photos ? (photos === 1 ? t("one_photo") : t("photos_n", { count: photos })) : ""].filter(Boolean).join(" · ")),
  ];
  if (record.state === "failed") {
    lines.push(el("p.reason", {}, record.reason));
  } else if (record.state === "waiting" && record.reason) {
    const next = record.next > Date.now() ? ` ${t("next_try", { time: fmtTime(record.next) })}` : "";
    const tries = record.attempts ? ` ${t("attempts", { count: record.attempts })}` : "";
    lines.push(el("p.reason.reason-soft", {}, `${record.reason}${next}${tries}`));
  } else if (record.state === "sent") {
    lines.push(el("p.result", {}, resultText(record)));
  }
  const buttons = [];
  if (record.state === "failed") {
    if (EDIT_ROUTE[record.kind]) buttons.push(el("a.btn.btn-primary.btn-small", { href: EDIT_ROUTE[record.kind](record.uuid) }, t("edit")));
    buttons.push(el("button.btn.btn-light.btn-small", { type: "button", onclick: async () => { await outbox.retry(record); outbox.sync({ force: true }); } }, t("resend")));
  }
  if (record.state !== "sent" && record.state !== "sending") {
    buttons.push(el("button.btn.btn-light.btn-small.btn-danger-text", {
      type: "button",
      onclick: async () => { if (window.confirm(t("confirm_discard"))) await outbox.discard(record); },
    }, t("discard")));
  }
  if (buttons.length) lines.push(el("div.outbox-buttons", {}, buttons));
  return el(`li.outbox-item.outbox-${record.state}`, { dataset: { uuid: record.uuid, kind: record.kind, state: record.state } }, lines);
}

async function render() {
  if ($("#screen-outbox").hidden) return;
  const rows = await outbox.records();
  const list = $("#outbox-list");
  list.replaceChildren(...(rows.length ? rows.map(item) : [el("li.empty", {}, t("nothing"))]));
  $("#outbox-sync").disabled = state.syncing;
}

export const outboxView = {
  init() {
    $("#outbox-sync").addEventListener("click", () => outbox.sync({ force: true }));
    on("outbox", render);
    on("sync", render);
  },
  enter() {
    render();
  },
};
