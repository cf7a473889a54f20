// The forms that put records into the outbox: report a case, record a visit, check in, fix or
// add a resident. Each record's UUID is made when it is saved, never again for that record.

import * as api from "./api.js";
import { contains, currentPosition } from "./geo.js";
import { FieldMap } from "./map.js";
import * as outbox from "./outbox.js";
import { PhotoPicker } from "./photos.js";
import { grids, state } from "./state.js";
import * as store from "./store.js";
import { $, $$, CONFIG, el, fmtDate, isoLocal, localInputValue, option, showErrors, t, toast, uuid4 } from "./ui.js";

// --- shared parts ----------------------------------------------------------------------------

function fillGrids(form, selected) {
  const field = $("[data-grid-field]", form);
  if (!field) return;
  const select = $("select", field);
  const mine = grids();
  field.hidden = mine.length < 2;
  const current = selected || select.value;
  select.replaceChildren(...mine.map((g) => option(g.id, g.name, String(g.id) === String(current))));
}

/** The grid named in the body only when the user has several (the server takes the only one). */
function gridOf(form) {
  const select = $("[data-grid-field] select", form);
  return grids().length > 1 && select ? select.value : undefined;
}

async function failedRecord(uuid) {
  const record = uuid ? await store.get("outbox", uuid) : null;
  return record && record.user === state.user.id && record.state === "failed" ? record : null;
}

function afterSave() {
  toast(navigator.onLine ? t("saved_sending") : t("saved"), "ok");
  window.location.hash = "#home";
  outbox.sync({ force: true });
}

/** A position from the GPS, or picked on the map (pick = true). */
class PositionField {
  constructor(form, { withMap = false, pick = false } = {}) {
    this.form = form;
    this.withMap = withMap;
    this.pick = pick;
    this.value = null;
    this.map = null;
    this.line = $("[data-position]", form);
    const button = $("[data-locate]", form);
    if (button) button.addEventListener("click", () => this.locate());
  }

  show() {
    if (!this.withMap) return;
    if (!this.map) {
      this.map = new FieldMap($("[data-map]", this.form));
      this.map.setGrids(grids());
      if (this.pick) this.map.onPick((lat, lng) => this.set({ lat, lng, accuracy: null }, "map"));
      if (this.value) this.map.setPoint(this.value.lat, this.value.lng);
    }
    this.map.refresh();
  }

  set(value, source = "gps") {
    this.value = value;
    if (!value) {
      this.line.textContent = "";
      return;
    }
    const figures = { lat: value.lat.toFixed(5), lng: value.lng.toFixed(5), acc: Math.round(value.accuracy || 0) };
    this.line.textContent = source === "map" ? t("picked", figures) : t("position", figures);
    if (this.map) this.map.setPoint(value.lat, value.lng, { pan: source !== "map" });
    this.form.dispatchEvent(new CustomEvent("position"));
  }

  async locate() {
    this.line.textContent = t("locating");
    try {
      this.set(await currentPosition(), "gps");
    } catch (error) {
      this.line.textContent = t("no_gps");
    }
  }
}

// --- report a case ---------------------------------------------------------------------------

class ReportScreen {
  constructor() {
    this.form = $("#form-report");
    this.picker = new PhotoPicker(this.form);
    this.position = new PositionField(this.form, { withMap: true, pick: true });
    this.editing = null;
    const self = $("#report-self");
    self.addEventListener("change", () => { $("[data-self-note]", this.form).hidden = !self.checked; });
    $("#report-category").addEventListener("change", () => this.categoryChanged());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
  }

  categories() {
    return (state.data && state.data.categories) || [];
  }

  fillCategories(selected) {
    const select = $("#report-category");
    const current = selected || select.value;
    const groups = new Map();
    for (const c of this.categories()) {
      if (!groups.has(c.major)) groups.set(c.major, []);
      groups.get(c.major).push(c);
    }
    const nodes = [option("", t("choose"))];
    for (const [major, items] of groups) {
      const group = el("optgroup", { label: major || "" });
      group.append(...items.map((c) => option(c.id, c.name, String(c.id) === String(current))));
      nodes.push(group);
    }
    select.replaceChildren(...nodes);
    this.categoryChanged();
  }

  categoryChanged() {
    const chosen = this.categories().find((c) => String(c.id) === $("#report-category").value);
    const self = $("#report-self");
    const allowed = !chosen || chosen.self_resolvable !== false;
    self.closest(".field").hidden = !allowed;
    if (!allowed) {
      self.checked = false;
      $("[data-self-note]", this.form).hidden = true;
    }
  }

  reset() {
    this.form.reset();
    this.picker.clear();
    this.position.set(null);
    this.editing = null;
    $("[data-self-note]", this.form).hidden = true;
    showErrors(this.form, {});
  }

  async enter(arg) {
    const record = await failedRecord(arg);
    if (record || this.editing) this.reset();
    this.fillCategories();
    fillGrids(this.form);
    this.position.show();
    if (record) {
      const b = record.body;
      this.editing = record;
      this.fillCategories(b.category);
      fillGrids(this.form, b.grid);
      this.form.description.value = b.description || "";
      this.form.address.value = b.address || "";
      this.form.self_resolve.checked = Boolean(b.self_resolve);
      this.form.note.value = b.note || "";
      $("[data-self-note]", this.form).hidden = !b.self_resolve;
      this.picker.set(await outbox.photosOf(record));
      if (b.lat !== undefined) this.position.set({ lat: b.lat, lng: b.lng, accuracy: null }, "map");
      showErrors(this.form, { form: record.reason, ...(record.errors || {}) });
    } else if (!this.position.value) {
      this.position.locate();
    }
  }

  async submit() {
    const form = this.form;
    const photos = await this.picker.ready();
    const errors = {};
    if (!form.category.value) errors.category = t("required");
    if (!form.description.value.trim()) errors.description = t("required");
    const self = form.self_resolve.checked;
    if (self && !form.note.value.trim()) errors.note = t("need_note");
    if (self && !photos.length) errors.photos = t("need_photo");
    if (!showErrors(form, errors)) return;
    const position = this.position.value || {};
    const body = api.caseBody({
      uuid: uuid4(),
      category: form.category.value,
      description: form.description.value.trim(),
      lat: position.lat,
      lng: position.lng,
      address: form.address.value.trim(),
      photos: photos.map((p) => p.uuid),
      selfResolve: self,
      note: self ? form.note.value.trim() : "",
      grid: gridOf(form),
    });
    const category = this.categories().find((c) => String(c.id) === form.category.value);
    const summary = `${category ? category.name : ""} · ${body.description.slice(0, 60)}`;
    await outbox.save("case", body, photos, summary, this.editing);
    this.reset();
    afterSave();
  }
}

// --- visit -----------------------------------------------------------------------------------

class VisitScreen {
  constructor() {
    this.form = $("#form-visit");
    this.picker = new PhotoPicker(this.form);
    this.position = new PositionField(this.form);
    this.editing = null;
    $("#visit-care").addEventListener("change", () => this.careChanged());
    $("#visit-filter").addEventListener("input", () => this.fillHouseholds());
    $("#visit-household").addEventListener("change", () => this.fillMembers());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
  }

  households() {
    return (state.data && state.data.households) || [];
  }

  careDue() {
    return (state.data && state.data.care_due) || [];
  }

  fillCare(selected) {
    const items = this.careDue();
    $("#visit-care").closest(".field").hidden = !items.length;
    $("#visit-care").replaceChildren(option("", t("choose")), ...items.map((c) => option(
      c.care_tag,
      `${c.name} · ${c.group}${c.overdue ? ` · ${t("overdue")}` : ` · ${fmtDate(c.next_visit_due)}`}`,
      String(c.care_tag) === String(selected),
    )));
  }

  fillPurposes(selected) {
    const purposes = (state.data && state.data.purposes) || [];
    const current = selected || $("#visit-purpose").value || "household";
    $("#visit-purpose").replaceChildren(...purposes.map((p) => option(p.value, p.label, p.value === current)));
  }

  fillHouseholds(selected) {
    const select = $("#visit-household");
    const current = selected !== undefined ? String(selected || "") : select.value;
    const query = $("#visit-filter").value.trim().toLowerCase();
    const matches = this.households().filter((h) => !query || String(h.id) === current
      || `${h.address} ${h.head_name} ${(h.members || []).map((m) => m.name).join(" ")}`.toLowerCase().includes(query));
    select.replaceChildren(option("", t("choose")), ...matches.slice(0, 300).map((h) => option(
      h.id, [h.address, h.head_name].filter(Boolean).join(" · "), String(h.id) === current,
    )));
    this.fillMembers();
  }

  fillMembers(selected) {
    const household = this.households().find((h) => String(h.id) === $("#visit-household").value);
    const select = $("#visit-resident");
    const current = selected !== undefined ? String(selected || "") : select.value;
    const members = household ? household.members || [] : [];
    select.replaceChildren(option("", household ? t("whole_household") : t("choose")), ...members.map((m) => option(
      m.id, [m.name, m.age !== undefined && m.age !== null ? t("age", { age: m.age }) : ""].filter(Boolean).join(" · "),
      String(m.id) === current,
    )));
    select.closest(".field").hidden = !members.length;
  }

  careChanged() {
    const care = this.careDue().find((c) => String(c.care_tag) === $("#visit-care").value);
    if (!care) return;
    $("#visit-filter").value = "";
    this.fillHouseholds(care.household);
    this.fillMembers(care.resident);
    this.fillPurposes("care");
  }

  reset() {
    this.form.reset();
    this.picker.clear();
    this.editing = null;
    showErrors(this.form, {});
  }

  async enter(arg) {
    const record = await failedRecord(arg);
    if (record || this.editing) this.reset();
    fillGrids(this.form);
    if (record) {
      const b = record.body;
      this.editing = record;
      fillGrids(this.form, b.grid);
      this.fillCare(b.care_tag);
      this.fillPurposes(b.purpose);
      this.fillHouseholds(b.household);
      this.fillMembers(b.resident);
      this.form.visited_at.value = localInputValue(new Date(b.visited_at));
      this.form.note.value = b.note || "";
      this.picker.set(await outbox.photosOf(record));
      this.position.set(b.lat !== undefined ? { lat: b.lat, lng: b.lng, accuracy: null } : null);
      showErrors(this.form, { form: record.reason, ...(record.errors || {}) });
      return;
    }
    const care = arg && arg.startsWith("care-") ? arg.slice(5) : null;
    this.fillCare(care || $("#visit-care").value);
    this.fillPurposes();
    this.fillHouseholds();
    if (care) this.careChanged();
    if (!this.form.visited_at.value) this.form.visited_at.value = localInputValue();
    if (!this.position.value) this.position.locate();
  }

  async submit() {
    const form = this.form;
    const photos = await this.picker.ready();
    const errors = {};
    const purpose = form.purpose.value;
    if (!purpose) errors.purpose = t("required");
    const when = form.visited_at.value ? new Date(form.visited_at.value) : null;
    if (!when || Number.isNaN(when.getTime())) errors.visited_at = t("required");
    const careTag = form.care_tag.value;
    const household = form.household.value;
    const resident = form.resident.value;
    if ((purpose === "care" || purpose === "household") && !careTag && !household && !resident) errors.who = t("need_who");
    if (!showErrors(form, errors)) return;
    const position = this.position.value || {};
    const body = api.visitBody({
      uuid: uuid4(),
      purpose,
      visitedAt: isoLocal(when),
      household,
      resident,
      careTag,
      note: form.note.value.trim(),
      lat: position.lat,
      lng: position.lng,
      photos: photos.map((p) => p.uuid),
      grid: gridOf(form),
    });
    const who = $("#visit-resident").selectedOptions[0];
    const where = $("#visit-household").selectedOptions[0];
    const label = $("#visit-purpose").selectedOptions[0];
    const name = (resident && who ? who.textContent : "") || (household && where ? where.textContent : "");
    await outbox.save("visit", body, photos, [label ? label.textContent : purpose, name].filter(Boolean).join(" · "), this.editing);
    this.reset();
    afterSave();
  }
}

// --- check in --------------------------------------------------------------------------------

class CheckInScreen {
  constructor() {
    this.form = $("#form-checkin");
    this.position = new PositionField(this.form, { withMap: true });
    this.form.addEventListener("position", () => this.showInside());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
  }

  showInside() {
    const p = this.position.value;
    const line = $("#checkin-inside");
    if (!p) { line.textContent = ""; return; }
    const inside = grids().some((g) => contains(g.boundary, p.lat, p.lng));
    line.textContent = inside ? t("inside_grid") : t("outside_grid");
    line.className = `inside ${inside ? "inside-yes" : "inside-no"}`;
    if (this.position.map) this.position.map.setMe(p.lat, p.lng, p.accuracy);
  }

  enter() {
    this.position.show();
    showErrors(this.form, {});
    // A check-in says where I am now: always a fresh fix.
    this.position.locate();
  }

  async submit() {
    const p = this.position.value;
    if (!showErrors(this.form, p ? {} : { lat: t("need_position") })) return;
    const body = api.checkInBody({
      uuid: uuid4(), at: isoLocal(), lat: p.lat, lng: p.lng, accuracy: p.accuracy, note: this.form.note.value.trim(),
    });
    await outbox.save("check_in", body, [], $("#checkin-inside").textContent);
    this.form.reset();
    afterSave();
  }
}

// --- fix or add a resident -------------------------------------------------------------------

function choiceOptions(select, choices, { keep = false, selected = "" } = {}) {
  select.replaceChildren(option("", t("choose")), ...choices.map((c) => option(c.value, c.label, c.value === selected)));
  if (!keep) return;
  select.value = selected || "";
}

function findMember(id) {
  for (const household of (state.data && state.data.households) || []) {
    const member = (household.members || []).find((m) => String(m.id) === String(id));
    if (member) return { household, member };
  }
  return null;
}

/** The bootstrap may give a sex as its code or its label. */
function sexValue(sex) {
  const found = CONFIG.choices.sex.find((c) => c.value === sex || c.label === sex);
  return found ? found.value : "";
}

class ResidentScreen {
  constructor() {
    this.form = $("#form-resident");
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.mode = null;
  }

  originalOf(member) {
    return {
      name: member.name || "",
      sex: sexValue(member.sex),
      residence_type: member.residence_type || "",
      relation: member.relation || "",
    };
  }

  setMode(mode) {
    this.mode = mode;
    for (const node of $$("[data-new-only]", this.form)) node.hidden = mode !== "new";
    for (const node of $$("[data-fix-only]", this.form)) node.hidden = mode !== "fix";
  }

  /** arg: "new-<household>", "fix-<resident>" or "edit-<outbox uuid>". */
  async enter(arg = "") {
    const [how, id] = [arg.split("-")[0], arg.slice(arg.indexOf("-") + 1)];
    this.form.reset();
    showErrors(this.form, {});
    this.editing = null;
    let values = {};
    if (how === "edit") {
      const record = await failedRecord(id);
      if (!record) { window.location.hash = "#outbox"; return; }
      this.editing = record;
      const b = record.body;
      values = b;
      if (b.resident) this.target = { ...(findMember(b.resident) || {}), resident: b.resident, version: b.version };
      else this.target = { household: (state.data.households || []).find((h) => h.id === b.household), householdId: b.household };
      this.setMode(b.resident ? "fix" : "new");
      showErrors(this.form, { form: record.reason, ...(record.errors || {}) });
    } else if (how === "fix") {
      const found = findMember(id);
      if (!found) { window.location.hash = "#residents"; return; }
      this.target = { ...found, resident: found.member.id, version: found.member.version };
      this.setMode("fix");
      values = this.originalOf(found.member);
    } else {
      const household = ((state.data && state.data.households) || []).find((h) => String(h.id) === id);
      if (!household) { window.location.hash = "#residents"; return; }
      this.target = { household, householdId: household.id };
      this.setMode("new");
      values = { id_type: "resident_id", residence_type: "registered" };
    }
    const c = CONFIG.choices;
    choiceOptions(this.form.sex, c.sex, { selected: values.sex || "" });
    choiceOptions(this.form.id_type, c.id_type, { selected: values.id_type || "" });
    choiceOptions(this.form.residence_type, c.residence_type, { selected: values.residence_type || "" });
    choiceOptions(this.form.relation, c.relation, { selected: values.relation || "" });
    // A fix sends only what changed from what the phone knows.
    this.original = this.mode === "fix" && this.target.member ? this.originalOf(this.target.member) : {};
    for (const key of ["name", "id_number", "phone", "note"]) this.form[key].value = values[key] || "";
    const household = this.target.household;
    const member = this.target.member;
    $("[data-resident-context]", this.form).textContent = [
      member ? `${member.name} · ${member.id_masked || ""} · ${member.phone_masked || ""}` : t("add_member"),
      household ? household.address : "",
    ].filter(Boolean).join(" — ");
  }

  async submit() {
    const form = this.form;
    const values = {};
    for (const key of ["name", "sex", "id_type", "id_number", "phone", "residence_type", "relation", "note"]) {
      const value = form[key].value.trim();
      if (value && value !== this.original[key]) values[key] = value;
    }
    if (this.mode === "new") {
      if (!showErrors(form, form.name.value.trim() ? {} : { name: t("required") })) return;
      values.name = form.name.value.trim();
    } else {
      delete values.id_type;
      if (!Object.keys(values).length) { showErrors(form, { form: t("changed_nothing") }); return; }
    }
    const body = api.residentBody({
      uuid: uuid4(),
      resident: this.mode === "fix" ? this.target.resident : undefined,
      version: this.mode === "fix" ? this.target.version : undefined,
      household: this.mode === "new" ? this.target.householdId : undefined,
      values,
    });
    const who = values.name || (this.target.member && this.target.member.name) || "";
    await outbox.save("resident", body, [], `${this.mode === "fix" ? t("fix_resident") : t("add_member")} · ${who}`, this.editing);
    afterSave();
  }
}

let screens = null;

export function formScreens() {
  if (!screens) {
    screens = {
      report: new ReportScreen(),
      visit: new VisitScreen(),
      checkin: new CheckInScreen(),
      resident: new ResidentScreen(),
    };
  }
  return screens;
}
