// Small DOM helpers and the words the page brought with it (translated by Django).

const read = (id) => JSON.parse(document.getElementById(id).textContent);

export const CONFIG = read("cg-config");
const STRINGS = read("cg-strings");
// Intl wants "zh-Hans", Django says "zh-hans".
export const LOCALE = CONFIG.language === "zh-hans" ? "zh-Hans-CN" : CONFIG.language;

/** A translated string with its %(name)s placeholders filled in. */
export function t(key, values = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/%\((\w+)\)s/g, (all, name) => (name in values ? String(values[name]) : all));
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** el("li.item", {dataset: {id: 3}, onclick}, "text", child…) */
export function el(tag, props = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const node = document.createElement(name);
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function option(value, label, selected = false) {
  const node = el("option", { value: String(value) }, label);
  node.selected = selected;
  return node;
}

let toastTimer = 0;
export function toast(message, kind = "info") {
  const node = document.getElementById("cg-toast");
  node.textContent = message;
  node.className = `toast toast-${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
}

const timeFormat = new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(LOCALE, {
  month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const dateFormat = new Intl.DateTimeFormat(LOCALE, { year: "numeric", month: "numeric", day: "numeric" });

export function fmtTime(value) {
  return value ? timeFormat.format(new Date(value)) : "";
}

/** Today's times as a clock time, older ones with their date. */
export function fmtWhen(value) {
  if (!value) return "";
  const date = new Date(value);
  return date.toDateString() === new Date().toDateString() ? timeFormat.format(date) : dateTimeFormat.format(date);
}

export function fmtDate(value) {
  // "2026-11-20" is a calendar date, not an instant: read it as local noon.
  return value ? dateFormat.format(new Date(`${value}T12:00:00`)) : "";
}

/** The value for an <input type=datetime-local>, in the phone's time. */
export function localInputValue(date = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** An ISO time with the phone's offset ("2026-11-26T09:30:00+08:00"). */
export function isoLocal(date = new Date()) {
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return `${localInputValue(date)}:${pad(date.getSeconds())}${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** Show the messages of a form's fields: {field: [message]} or {field: message}. */
export function showErrors(form, errors) {
  for (const node of $$("[data-error]", form)) node.textContent = "";
  let first = null;
  for (const [field, value] of Object.entries(errors || {})) {
    const message = Array.isArray(value) ? value.join(" ") : String(value);
    const node = $(`[data-error="${field}"]`, form) || $(`[data-error="form"]`, form);
    if (node) {
      node.textContent = node.textContent ? `${node.textContent} ${message}` : message;
      first = first || node;
    }
  }
  if (first) first.closest(".field, p")?.scrollIntoView({ block: "center", behavior: "smooth" });
  return !first;
}

export function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
