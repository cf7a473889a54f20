// The one place that knows the server's field API (/api/v1/field/…): paths, the shape of every
// body the app sends, and how answers are read. Everything else calls these functions.

const BASE = "/api/v1/field/";

export const PATHS = {
  bootstrap: `${BASE}bootstrap/`,
  uploads: `${BASE}uploads/`,
  upload: (uuid) => `${BASE}uploads/${uuid}/`,
  records: {
    case: `${BASE}cases/`,
    visit: `${BASE}visits/`,
    patrol: `${BASE}patrols/`,
    check_in: `${BASE}check-ins/`,
    resident: `${BASE}residents/`,
  },
};

export const KINDS = Object.keys(PATHS.records);

const JSON_TIMEOUT = 30_000;
// A chunk on a slow mobile link: 256 KB at 20 KB/s takes 13 s.
const CHUNK_TIMEOUT = 90_000;

let language = "zh-hans";
export function setLanguage(code) { language = code; }

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

/** The CSRF cookie: Django changes it at every login, so it also tells the app that someone
 * logged in since it last talked to the server. */
export function csrfCookie() { return cookie("csrftoken"); }

/**
 * One request. Never throws: the answer is {ok, status, data, network, replay}.
 * network = true when the server was not reached (offline, timeout, connection dropped).
 */
export async function call(method, url, { json, body, headers = {}, timeout = JSON_TIMEOUT } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    redirect: "manual",
    signal: controller.signal,
    headers: {
      Accept: "application/json",
      // The API speaks the browser's language unless told; the app speaks the page's.
      "Accept-Language": language,
      ...headers,
    },
  };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfCookie();
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    clearTimeout(timer);
    return { ok: false, status: 0, data: null, network: true, error: String(error) };
  }
  let data = null;
  try {
    if ((response.headers.get("Content-Type") || "").includes("json")) data = await response.json();
  } catch (error) {
    // The body broke off on the way: as good as no answer.
    clearTimeout(timer);
    return { ok: false, status: 0, data: null, network: true, error: String(error) };
  }
  clearTimeout(timer);
  // A redirect means a login page answered, not the API.
  const status = response.type === "opaqueredirect" ? 401 : response.status;
  return {
    ok: status >= 200 && status < 300,
    status,
    data,
    network: false,
    replay: response.headers.get("Idempotent-Replay") === "true",
  };
}

export function bootstrap() {
  return call("GET", PATHS.bootstrap);
}

/** POST one record: the same body, byte for byte, on every try (the server hashes it). */
export function postRecord(kind, body) {
  return call("POST", PATHS.records[kind], { json: body });
}

/**
 * Send one photo in chunks, resuming where the server stopped: announcing it (again) returns
 * how many bytes the server already holds. photo = {uuid, name, size, sha256, blob}.
 */
export async function uploadPhoto(photo, chunkBytes, onProgress = () => {}) {
  const head = await call("POST", PATHS.uploads, {
    json: { uuid: photo.uuid, name: photo.name, size: photo.size, sha256: photo.sha256 },
  });
  if (!head.ok) return head;
  let state = head.data;
  let guard = 2 * Math.ceil(photo.size / chunkBytes) + 4;
  while (!state.complete) {
    if (guard-- <= 0) return { ok: false, status: 0, data: null, network: true, error: "no progress" };
    const start = state.received;
    const end = Math.min(start + chunkBytes, photo.size) - 1;
    onProgress(start / photo.size);
    const answer = await call("PUT", PATHS.upload(photo.uuid), {
      body: photo.blob.slice(start, end + 1),
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Range": `bytes ${start}-${end}/${photo.size}`,
      },
      timeout: CHUNK_TIMEOUT,
    });
    if (answer.status === 409 && answer.data && answer.data.code === "offset") {
      // The server has a different count (a chunk whose answer got lost): continue from there.
      state = { ...state, received: Number(answer.data.received) || 0 };
      continue;
    }
    if (!answer.ok) return answer;
    state = answer.data;
  }
  onProgress(1);
  return { ok: true, status: 200, data: state, network: false };
}

// --- bodies ----------------------------------------------------------------------------------
// Optional keys are left out rather than sent empty, so that the server's defaults apply.

function compact(body) {
  const out = {};
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined || value === null || (typeof value === "number" && Number.isNaN(value))) continue;
    out[key] = value;
  }
  return out;
}

const round = (value, digits = 7) => (value === undefined || value === null ? undefined : Number(value.toFixed(digits)));

export function caseBody({ uuid, category, description, lat, lng, address, photos, selfResolve, note, grid }) {
  return compact({
    uuid,
    category: Number(category),
    description,
    lat: round(lat),
    lng: round(lng),
    address: address || undefined,
    photos: photos || [],
    self_resolve: Boolean(selfResolve),
    note: note || "",
    grid: grid ? Number(grid) : undefined,
  });
}

export function visitBody({ uuid, purpose, visitedAt, household, resident, careTag, note, lat, lng, photos, grid }) {
  return compact({
    uuid,
    purpose,
    visited_at: visitedAt,
    household: household ? Number(household) : undefined,
    resident: resident ? Number(resident) : undefined,
    care_tag: careTag ? Number(careTag) : undefined,
    note: note || "",
    lat: round(lat),
    lng: round(lng),
    photos: photos || [],
    grid: grid ? Number(grid) : undefined,
  });
}

/** track: [[lat, lng, unix seconds], …] */
export function patrolBody({ uuid, startedAt, endedAt, track, note, photos, grid }) {
  return compact({
    uuid,
    started_at: startedAt,
    ended_at: endedAt,
    track: track.map(([lat, lng, at]) => [round(lat), round(lng), Math.round(at)]),
    note: note || "",
    photos: photos || [],
    grid: grid ? Number(grid) : undefined,
  });
}

export function checkInBody({ uuid, at, lat, lng, accuracy, note }) {
  return compact({
    uuid,
    at,
    lat: round(lat),
    lng: round(lng),
    accuracy: accuracy === undefined || accuracy === null ? undefined : Math.round(accuracy),
    note: note || undefined,
  });
}

const RESIDENT_FIELDS = ["name", "sex", "id_type", "id_number", "phone", "residence_type", "relation", "note"];

/** A new member of a household (household set) or a fix to one (resident + version set). */
export function residentBody({ uuid, resident, version, household, values }) {
  const body = { uuid };
  if (resident) {
    body.resident = Number(resident);
    body.version = Number(version);
  } else {
    body.household = Number(household);
  }
  for (const key of RESIDENT_FIELDS) {
    if (values[key] !== undefined && values[key] !== "") body[key] = values[key];
  }
  return body;
}

// --- answers ---------------------------------------------------------------------------------
// The API's one error shape: {"detail": "…", "errors": {"field": ["…"]}} for 400s, {"detail",
// "code", …} otherwise. A bare {"field": [...]} (the contract's short form) is read too.

function errorsOf(data) {
  if (!data || typeof data !== "object") return null;
  if (data.errors && typeof data.errors === "object") return data.errors;
  if (typeof data.detail === "string") return null;
  const { code, ...rest } = data;
  return Object.keys(rest).length ? rest : null;
}

function words(value) {
  if (Array.isArray(value)) return value.map(words).filter(Boolean).join(" ");
  if (value && typeof value === "object") return Object.values(value).map(words).filter(Boolean).join(" ");
  return value === null || value === undefined ? "" : String(value);
}

/** The server's reason, in words, with the fields it names. */
export function describeError(answer, labelFor = (field) => field) {
  const data = answer.data;
  const errors = errorsOf(data);
  if (errors) {
    return Object.entries(errors).map(([field, value]) => (
      field === "non_field_errors" || field === "__all__" ? words(value) : `${labelFor(field)}: ${words(value)}`
    )).join("; ");
  }
  if (data && typeof data.detail === "string") return data.detail;
  return `HTTP ${answer.status}`;
}

/** Field errors of an answer, to show next to the fields of the form when it is edited. */
export function fieldErrors(answer) {
  const errors = errorsOf(answer && answer.data) || {};
  const out = {};
  for (const [field, value] of Object.entries(errors)) out[field === "non_field_errors" ? "form" : field] = [words(value)];
  return out;
}
