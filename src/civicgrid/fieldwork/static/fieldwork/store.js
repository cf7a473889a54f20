// The phone's storage (IndexedDB). Three stores:
//   data   — the bootstrap (my grids, households, tasks…), key "bootstrap"
//   outbox — records and photo blobs waiting for the server, by their client UUID
//   meta   — who the data belongs to, the last authenticated contact, the patrol being recorded
// Wiping deletes the whole database and the service worker's caches.

const NAME = "civicgrid-field";
const VERSION = 1;
export const CACHE_PREFIX = "cg-field-";

let opening = null;

export function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains("data")) db.createObjectStore("data");
        if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "uuid" });
        if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab wiping the data: let it.
        db.onversionchange = () => { db.close(); opening = null; };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
    });
    opening.catch(() => { opening = null; });
  }
  return opening;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("aborted"));
  });
}

function result(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Outbox writes ask for strict durability: "saved" must mean on disk, not in a write buffer.
async function transaction(stores, mode = "readonly") {
  const db = await open();
  return mode === "readwrite" ? db.transaction(stores, mode, { durability: "strict" }) : db.transaction(stores, mode);
}

export async function get(store, key) {
  const tx = await transaction(store);
  return result(tx.objectStore(store).get(key));
}

export async function all(store) {
  const tx = await transaction(store);
  return result(tx.objectStore(store).getAll());
}

export async function put(store, value, key) {
  const tx = await transaction(store, "readwrite");
  if (key === undefined) tx.objectStore(store).put(value);
  else tx.objectStore(store).put(value, key);
  return done(tx);
}

export async function del(store, key) {
  const tx = await transaction(store, "readwrite");
  tx.objectStore(store).delete(key);
  return done(tx);
}

/** Several outbox rows in one transaction: a record and its photos are saved together or not at all. */
export async function putMany(store, values, removeKeys = []) {
  const tx = await transaction(store, "readwrite");
  const objects = tx.objectStore(store);
  for (const key of removeKeys) objects.delete(key);
  for (const value of values) objects.put(value);
  return done(tx);
}

/** Change one outbox row in place (read and write in the same transaction). */
export async function update(store, key, change) {
  const tx = await transaction(store, "readwrite");
  const objects = tx.objectStore(store);
  const current = await result(objects.get(key));
  if (current === undefined) return undefined;
  const next = { ...current, ...change };
  objects.put(next);
  await done(tx);
  return next;
}

export async function getMeta(key) {
  return get("meta", key);
}

export async function setMeta(values) {
  const tx = await transaction("meta", "readwrite");
  const objects = tx.objectStore("meta");
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) objects.delete(key);
    else objects.put(value, key);
  }
  return done(tx);
}

export async function clear(stores) {
  const tx = await transaction(stores, "readwrite");
  for (const name of stores) tx.objectStore(name).clear();
  return done(tx);
}

/** Everything gone: the database and every cache of the app. */
export async function wipe() {
  if (opening) {
    try { (await opening).close(); } catch (error) { /* never opened */ }
  }
  opening = null;
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
  if (self.caches) {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX)).map((n) => caches.delete(n)));
  }
}
