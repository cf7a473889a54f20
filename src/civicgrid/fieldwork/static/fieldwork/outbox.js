// The outbox: every record waits in IndexedDB until the server has confirmed it.
//
// A record gets its UUID when it is saved here, and keeps it (and its body, byte for byte) on
// every try, so the server can recognise a replay after a lost answer. Its photos are rows of
// their own (kind "photo", their own UUIDs) and go first, in resumable chunks; then the record.
// Network trouble and 5xx wait with exponential backoff; 400/409 mark the record failed with
// the server's reason, for the user to edit (a failed record was never stored by the server, so
// the edited one goes out under a new UUID) or delete; 401/403 stop and ask for a login.

import * as api from "./api.js";
import { emit, settings, state } from "./state.js";
import * as store from "./store.js";
import { t } from "./ui.js";

const SENT_KEEP_MS = 3 * 24 * 3600 * 1000;
const SENT_KEEP_COUNT = 50;
const BACKOFF_FIRST_MS = 5000;
const BACKOFF_MAX_MS = 15 * 60 * 1000;

export function labelFor(field) {
  const key = `field_${field}`;
  const label = t(key);
  return label === key ? field : label;
}

/** This user's records (not photos), newest first. */
export async function records() {
  if (!state.user) return [];
  const rows = await store.all("outbox");
  return rows.filter((r) => r.kind !== "photo" && r.user === state.user.id).sort((a, b) => b.created - a.created);
}

export async function counts() {
  const rows = await records();
  return {
    waiting: rows.filter((r) => r.state === "waiting" || r.state === "sending").length,
    failed: rows.filter((r) => r.state === "failed").length,
  };
}

/** Store a record and its photos together (one transaction). photos: from PhotoPicker. */
export async function save(kind, body, photos = [], summary = "", replaces = null) {
  const now = Date.now();
  const user = state.user.id;
  const keep = new Set(photos.map((p) => p.uuid));
  const rows = photos.map((p) => ({
    uuid: p.uuid, kind: "photo", user, parent: body.uuid, name: p.name, size: p.size,
    sha256: p.sha256, blob: p.blob, width: p.width, height: p.height, uploaded: Boolean(p.uploaded), created: now,
  }));
  const record = {
    uuid: body.uuid, kind, user, body, summary, state: "waiting", reason: "", errors: null,
    attempts: 0, created: now, next: 0, result: null,
  };
  const remove = [];
  if (replaces) {
    remove.push(replaces.uuid);
    for (const id of replaces.body.photos || []) if (!keep.has(id)) remove.push(id);
  }
  await store.putMany("outbox", [...rows, record], remove);
  emit("outbox");
  return record;
}

/** The photos of a record, as PhotoPicker items (for editing a failed record). */
export async function photosOf(record) {
  const out = [];
  for (const id of (record.body && record.body.photos) || []) {
    const row = await store.get("outbox", id);
    if (row && row.blob) out.push(row);
  }
  return out;
}

export async function discard(record) {
  await store.putMany("outbox", [], [record.uuid, ...((record.body && record.body.photos) || [])]);
  emit("outbox");
}

/** A failed record, as it was, back in the queue (the same UUID and body). */
export async function retry(record) {
  await store.update("outbox", record.uuid, { state: "waiting", reason: "", errors: null, next: 0 });
  emit("outbox");
}

async function contact() {
  state.lastContact = Date.now();
  await store.setMeta({ last_contact: state.lastContact, csrf: api.csrfCookie() });
  emit("contact");
}

async function markSent(record, result) {
  const photos = (record.body && record.body.photos) || [];
  // The server has it all now: the photos' bytes and the body leave the phone.
  await store.putMany("outbox", [{
    ...record, state: "sent", result, reason: "", errors: null, sentAt: Date.now(),
    body: { uuid: record.body.uuid, photos: [] }, photoCount: photos.length,
  }], photos);
}

async function settle(record, answer) {
  if (answer.network || answer.status === 0 || answer.status >= 500 || answer.status === 408 || answer.status === 429) {
    const attempts = (record.attempts || 0) + 1;
    const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempts - 1)) * (1 + Math.random() * 0.2);
    await store.update("outbox", record.uuid, {
      state: "waiting", attempts, next: Date.now() + wait,
      reason: answer.network ? t("network_error") : t("server_error", { status: answer.status }),
    });
    return "stop";
  }
  if (answer.status === 401 || answer.status === 403) {
    // Logged out, or refused for this record? Ask the server who we are.
    const who = answer.status === 401 ? answer : await api.bootstrap();
    if (who.network) return settle(record, who);
    if (!who.ok) {
      await store.update("outbox", record.uuid, { state: "waiting", reason: t("login_again") });
      state.auth = "login";
      state.authMessage = api.describeError(who);
      emit("auth");
      return "stop";
    }
  }
  await store.update("outbox", record.uuid, {
    state: "failed", attempts: (record.attempts || 0) + 1, status: answer.status,
    reason: api.describeError(answer, labelFor), errors: api.fieldErrors(answer),
  });
  return "next";
}

async function sendOne(record) {
  // Deleted on the phone meanwhile: not sent.
  if (!(await store.update("outbox", record.uuid, { state: "sending" }))) return "next";
  emit("outbox");
  const photoIds = (record.body && record.body.photos) || [];
  const { chunk_bytes: chunkBytes } = settings();
  for (let round = 0; round < 2; round += 1) {
    for (const [index, id] of photoIds.entries()) {
      const photo = await store.get("outbox", id);
      if (!photo || photo.uploaded) continue;
      const progress = (share) => {
        state.progress = `${t("photo_upload", { done: index + 1, count: photoIds.length })} ${Math.round(share * 100)}%`;
        emit("progress");
      };
      const answer = await api.uploadPhoto(photo, chunkBytes, progress);
      if (!answer.ok) return settle(record, answer);
      await store.update("outbox", id, { uploaded: true });
    }
    state.progress = t("syncing");
    emit("progress");
    const answer = await api.postRecord(record.kind, record.body);
    if (answer.ok) {
      await contact();
      await markSent(record, answer.data || {});
      return "sent";
    }
    if (round === 0 && answer.status === 409 && answer.data && answer.data.code === "photos_pending") {
      // The server lost or purged an upload: send those photos again, then the record.
      for (const id of answer.data.photos || []) await store.update("outbox", id, { uploaded: false });
      continue;
    }
    return settle(record, answer);
  }
  return "next";
}

async function prune() {
  const now = Date.now();
  const sent = (await records()).filter((r) => r.state === "sent");
  const old = sent.filter((r, i) => i >= SENT_KEEP_COUNT || now - (r.sentAt || r.created) > SENT_KEEP_MS);
  if (old.length) await store.putMany("outbox", [], old.map((r) => r.uuid));
}

async function run(force) {
  if (!state.user || state.auth !== "ok") return { sent: 0, skipped: true };
  // The browser knows it has no network at all: no try, no backoff to count up.
  if (navigator.onLine === false) return { sent: 0, skipped: true };
  state.syncing = true;
  emit("sync");
  let sent = 0;
  try {
    const queue = (await records())
      .filter((r) => r.state === "waiting" || r.state === "sending")
      .sort((a, b) => a.created - b.created);
    for (const record of queue) {
      if (!force && record.next > Date.now()) continue;
      const outcome = await sendOne(record);
      emit("outbox");
      if (outcome === "sent") sent += 1;
      if (outcome === "stop") break;
    }
    await prune();
  } finally {
    state.syncing = false;
    state.progress = "";
    emit("sync");
    emit("outbox");
  }
  return { sent };
}

let running = null;

/** Send what waits. One run at a time, also across tabs (Web Locks), so a record is never on
 * its way twice at once. force: ignore the backoff (the user asked, or the network is back). */
export function sync({ force = false } = {}) {
  if (running) return running;
  const job = navigator.locks
    ? navigator.locks.request("cg-field-sync", { ifAvailable: true }, (lock) => (lock ? run(force) : { sent: 0, skipped: true }))
    : run(force);
  running = job.finally(() => { running = null; });
  return running;
}

/** Whether something is due to be sent now (for the periodic timer). */
export async function due() {
  const now = Date.now();
  return (await records()).some((r) => (r.state === "waiting" || r.state === "sending") && r.next <= now);
}
