/* The field app's service worker. Served by the /field/sw.js view, which puts
 *   const CONFIG = {version, shell, assets};
 * in front of this file; `version` is a hash of every file of the shell, so a deploy that
 * changes one installs a new worker with a new cache, and the old cache is deleted.
 *
 * Strategy: the shell (the page and its scripts, styles, Leaflet) is precached at install and
 * served cache-first — the app opens at once in a stairwell with no signal, and a slow network
 * cannot hold it up. The shell page is refreshed in the background on each online open (for a
 * new language or translation). Data is not this worker's business: /api/ requests pass
 * straight to the network and the app keeps its own copy in IndexedDB, where it knows whose
 * data it is and can wipe it (a second copy of personal data in Cache Storage could not be
 * scoped to a user). Nothing but GET is ever cached.
 */
/* global CONFIG */
"use strict";

const PREFIX = "cg-field-";
const CACHE = PREFIX + CONFIG.version;
const SHELL = CONFIG.shell;
const ASSETS = new Set(CONFIG.assets);

/** The shell page, only if it really is the shell (not a login page after a redirect). */
async function fetchShell() {
  const response = await fetch(SHELL, { credentials: "same-origin", redirect: "manual", cache: "no-store" });
  if (!response.ok || response.type !== "basic" || response.redirected) {
    throw new Error("the shell is not available (logged out?)");
  }
  return response;
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // All or nothing: if the new shell cannot be had, this version does not install and the
    // old one keeps serving a complete, consistent shell.
    const shell = await fetchShell();
    await cache.addAll(Array.from(ASSETS));
    await cache.put(SHELL, shell);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

async function shellFirst(event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(SHELL, { ignoreSearch: true, ignoreVary: true });
  const fresh = fetchShell()
    .then(async (response) => {
      await cache.put(SHELL, response.clone());
      return response;
    });
  if (cached) {
    event.waitUntil(fresh.catch(() => {}));
    return cached;
  }
  // Not kept (first open after a wipe): the network, or the browser's own error page.
  return fresh.catch(() => fetch(event.request));
}

async function assetFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate" && url.pathname === SHELL) {
    event.respondWith(shellFirst(event));
    return;
  }
  if (ASSETS.has(url.pathname)) event.respondWith(assetFirst(request));
});
