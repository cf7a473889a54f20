// Residents of my grid, from the phone's copy (masked numbers only): search, fix, add.

import { state } from "./state.js";
import { $, el, t } from "./ui.js";

const SHOWN = 30;
let timer = 0;

function matches(household, query) {
  if (!query) return true;
  const text = [household.address, household.head_name, ...(household.members || []).map((m) => m.name)].join(" ").toLowerCase();
  return query.split(/\s+/).every((word) => text.includes(word));
}

function member(m) {
  const facts = [m.sex_label || m.sex, m.age !== undefined && m.age !== null ? t("age", { age: m.age }) : "", m.id_masked, m.phone_masked].filter(Boolean).join(" · ");
  return el("li.member", {},
    el("div.item-body", {},
      el("b", {}, m.name, ...(m.care || []).map((c) => el("span.tag", {}, c))),
      el("small", {}, facts)),
    el("a.btn.btn-light.btn-small", { href: `#resident/fix-${m.id}` }, t("fix_resident")));
}

function render() {
  const query = $("#residents-q").value.trim().toLowerCase();
  const households = ((state.data && state.data.households) || []).filter((h) => matches(h, query));
  const list = $("#residents-list");
  if (!households.length) {
    list.replaceChildren(el("p.empty", {}, t("no_results")));
    return;
  }
  const cards = households.slice(0, SHOWN).map((h) => el("div.card.household", {},
    el("h3", {}, h.address || h.head_name || `#${h.id}`),
    el("ul.members", {}, (h.members || []).map(member)),
    el("a.btn.btn-light.btn-small", { href: `#resident/new-${h.id}` }, `+ ${t("add_member")}`)));
  if (households.length > SHOWN) cards.push(el("p.muted.small", {}, t("more_results", { count: SHOWN })));
  list.replaceChildren(...cards);
}

export const residents = {
  init() {
    $("#residents-q").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(render, 150);
    });
  },
  enter() {
    render();
  },
};
