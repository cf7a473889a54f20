// What the running app knows, and the events screens listen to.

export const state = {
  user: null, // {id, username, name}: set only once the server confirmed who is logged in
  data: null, // the bootstrap, as kept on the phone
  auth: "unknown", // unknown | ok | login | denied | unconfirmed
  authMessage: "",
  lastContact: 0, // ms: the last answer from the server to this logged-in user
  syncing: false,
  progress: "",
  wiped: false,
};

const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  bus.addEventListener(name, (event) => handler(event.detail));
}

const DEFAULTS = { wipe_hours: 72, chunk_bytes: 262144, max_photo_bytes: 20971520, max_photos: 10, track_seconds: 15 };

export function settings() {
  return { ...DEFAULTS, ...((state.data && state.data.settings) || {}) };
}

/** The grids the user works in (from the bootstrap). */
export function grids() {
  return (state.data && state.data.grids) || [];
}
