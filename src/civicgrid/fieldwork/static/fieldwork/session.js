// Whose data is on the phone, and when it goes.
//
// - The app shows what the phone keeps only when it is sure the same person is logged in:
//   Django changes the CSRF cookie at every login, so a cookie other than the one seen at the
//   last answer from the server means "someone logged in since" — the data stays hidden until
//   the server says who it is. A different user never sees the previous user's data: it is
//   removed; their unsent records stay hidden (and are never sent as someone else) until they
//   log in again or their own time runs out.
// - After wipe_hours without an answer from the server to a logged-in user, opening the app
//   wipes everything (a lost phone forgets). From 24 h before, a banner says how long is left.
// - Logging out from the app wipes everything, then ends the server session (or, offline, the
//   next time the app opens with a network).

import * as api from "./api.js";
import { counts } from "./outbox.js";
import { emit, settings, state } from "./state.js";
import * as store from "./store.js";
import { CONFIG, t } from "./ui.js";

const HOUR = 3600 * 1000;
const LOGOUT_FLAG = "cg-field-logout";

function wipeHours(meta) {
  return Number(meta.wipe_hours) || settings().wipe_hours;
}

/** Forget other users' unsent records and patrols once their own time ran out. */
async function purgeStrangers(contacts, hours, current) {
  const now = Date.now();
  const gone = (user) => user !== current && now - (contacts[user] || 0) > hours * HOUR;
  const rows = await store.all("outbox");
  const expired = rows.filter((r) => gone(r.user)).map((r) => r.uuid);
  if (expired.length) await store.putMany("outbox", [], expired);
  const users = new Set([...Object.keys(contacts).map(Number), ...rows.map((r) => r.user)]);
  const patrols = {};
  for (const user of users) if (gone(user)) patrols[`patrol:${user}`] = undefined;
  await store.setMeta(patrols);
}

export async function wipeAll() {
  await store.wipe();
  state.user = null;
  state.data = null;
  state.lastContact = 0;
}

/** At start: decide what may be shown from the phone, before any network. */
export async function load() {
  await endPendingLogout();
  const meta = {};
  for (const key of ["user", "last_contact", "csrf", "wipe_hours", "contacts"]) meta[key] = await store.getMeta(key);
  const hours = wipeHours(meta);
  if (meta.last_contact && Date.now() - meta.last_contact > hours * HOUR) {
    await wipeAll();
    state.wiped = true;
    state.auth = "login";
    return;
  }
  if (meta.user) await purgeStrangers(meta.contacts || {}, hours, meta.user.id);
  if (meta.user && meta.csrf && meta.csrf === api.csrfCookie()) {
    state.user = meta.user;
    state.data = (await store.get("data", "bootstrap")) || null;
    state.lastContact = meta.last_contact || 0;
    state.auth = "ok"; // until the server says otherwise
  } else if (meta.user) {
    state.auth = "unconfirmed";
  }
}

/** Fetch the bootstrap: confirms who is logged in and refreshes what the phone keeps. */
export async function refresh() {
  const answer = await api.bootstrap();
  if (answer.network) {
    emit("auth");
    return false;
  }
  if (!answer.ok) {
    // Logged out, or logged in as someone who does not work in a grid: the server says which.
    state.auth = "login";
    state.authMessage = api.describeError(answer);
    emit("auth");
    return false;
  }
  const data = answer.data;
  const user = { id: data.user.id, username: data.user.username, name: data.user.name };
  const previous = await store.getMeta("user");
  if (previous && previous.id !== user.id) {
    // Someone else: their copy of the grid goes; their unsent records stay hidden.
    await store.clear(["data"]);
  }
  const now = Date.now();
  const contacts = { ...((await store.getMeta("contacts")) || {}), [user.id]: now };
  await store.put("data", data, "bootstrap");
  await store.setMeta({
    user, contacts, last_contact: now, csrf: api.csrfCookie(), wipe_hours: data.settings && data.settings.wipe_hours,
  });
  Object.assign(state, { user, data, auth: "ok", authMessage: "", lastContact: now, wiped: false });
  emit("auth");
  emit("data");
  emit("contact");
  return true;
}

/** Hours left before the phone forgets (null when not within the last 24 h). */
export function hoursLeft() {
  if (!state.lastContact) return null;
  const left = settings().wipe_hours - (Date.now() - state.lastContact) / HOUR;
  return left <= 24 ? Math.max(0, Math.ceil(left)) : null;
}

/** Called every minute: a phone left open past the limit forgets too. */
export async function checkExpiry() {
  if (state.lastContact && Date.now() - state.lastContact > settings().wipe_hours * HOUR) {
    await wipeAll();
    state.wiped = true;
    state.auth = "login";
    emit("auth");
    emit("data");
    emit("outbox");
  }
}

async function postLogout() {
  const answer = await api.call("POST", CONFIG.logout, {});
  // Django answers a logout with a redirect to the login page.
  return !answer.network;
}

async function endPendingLogout() {
  const pending = localStorage.getItem(LOGOUT_FLAG);
  if (!pending) return;
  // Only the session that asked to end: a later login changed the cookie.
  if (pending !== api.csrfCookie() || (await postLogout())) localStorage.removeItem(LOGOUT_FLAG);
}

export async function logout() {
  const { waiting, failed } = await counts();
  const patrol = state.user ? await store.getMeta(`patrol:${state.user.id}`) : null;
  const pending = waiting + failed + (patrol ? 1 : 0);
  if (pending && !window.confirm(t("logout_pending", { count: pending }))) return;
  const csrf = api.csrfCookie();
  await wipeAll();
  if (!(await postLogout())) localStorage.setItem(LOGOUT_FLAG, csrf);
  window.location.replace(CONFIG.login);
}

export async function switchLanguage(code) {
  const body = new URLSearchParams({ language: code, next: CONFIG.shell });
  const answer = await api.call("POST", CONFIG.set_language, {
    body, headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  if (answer.network) return false;
  // The kept copy of the page speaks the old language: drop it, the reload fetches the new one.
  if (self.caches) {
    for (const name of await caches.keys()) {
      if (name.startsWith(store.CACHE_PREFIX)) await (await caches.open(name)).delete(CONFIG.shell);
    }
  }
  window.location.reload();
  return true;
}
