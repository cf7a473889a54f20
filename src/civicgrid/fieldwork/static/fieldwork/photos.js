// Photos: shrunk on the phone (canvas, longest side ≤ 1600 px, JPEG) before they are stored,
// so a 5 MB camera picture travels as ~300 KB; its EXIF (GPS position, device) stays behind.

import { settings } from "./state.js";
import { el, t, toast, uuid4 } from "./ui.js";

const MAX_SIDE = 1600;
const QUALITY = 0.8;

async function decode(file) {
  if (self.createImageBitmap) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (error) { /* fall back to an <img> (older WebViews) */ }
  }
  const url = URL.createObjectURL(file);
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    return image;
  } finally {
    URL.revokeObjectURL(url);
  }
}

export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function photoName(date = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `photo-${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}.jpg`;
}

/** A camera file → {uuid, name, blob, size, sha256, width, height}. The UUID is made here,
 * once; every upload attempt of this photo uses it. */
export async function compress(file) {
  const source = await decode(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(source.width, source.height));
  const width = Math.max(1, Math.round(source.width * scale));
  const height = Math.max(1, Math.round(source.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff"; // transparent PNGs become white, not black
  context.fillRect(0, 0, width, height);
  context.drawImage(source, 0, 0, width, height);
  if (source.close) source.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
  canvas.width = 0; // low-end phones run out of canvas memory quickly
  canvas.height = 0;
  if (!blob) throw new Error("toBlob failed");
  return { uuid: uuid4(), name: photoName(), blob, size: blob.size, sha256: await sha256Hex(blob), width, height };
}

/** The photos part of a form: thumbnails, remove buttons, the camera and gallery inputs. */
export class PhotoPicker {
  constructor(root) {
    this.root = root;
    this.list = root.querySelector("[data-photos]");
    this.items = [];
    this.pending = new Set();
    for (const input of root.querySelectorAll("[data-photo-input]")) {
      input.addEventListener("change", () => {
        const files = Array.from(input.files || []);
        input.value = "";
        for (const file of files) this.add(file);
      });
    }
  }

  add(file) {
    if (this.items.length + this.pending.size >= settings().max_photos) {
      toast(t("too_many_photos", { count: settings().max_photos }), "danger");
      return Promise.resolve();
    }
    const placeholder = el("div.photo.photo-busy", {}, el("span", {}, t("compressing")));
    this.list.append(placeholder);
    const job = compress(file)
      .then((photo) => { this.items.push(photo); })
      .catch(() => toast(t("photo_failed"), "danger"))
      .finally(() => { this.pending.delete(job); placeholder.remove(); this.render(); });
    this.pending.add(job);
    return job;
  }

  /** Resolves when every photo being prepared is ready. */
  async ready() {
    while (this.pending.size) await Promise.all(Array.from(this.pending));
    return this.items;
  }

  set(items) {
    this.clear();
    this.items = items.slice();
    this.render();
  }

  clear() {
    for (const item of this.items) if (item.url) URL.revokeObjectURL(item.url);
    this.items = [];
    this.render();
  }

  render() {
    for (const node of Array.from(this.list.querySelectorAll(".photo:not(.photo-busy)"))) node.remove();
    for (const item of this.items) {
      if (!item.url) item.url = URL.createObjectURL(item.blob);
      const remove = el("button.photo-remove", {
        type: "button",
        "aria-label": t("remove_photo"),
        onclick: () => {
          URL.revokeObjectURL(item.url);
          this.items = this.items.filter((x) => x !== item);
          this.render();
        },
      }, "×");
      // Ready photos in the order taken, before the ones still being prepared.
      const node = el("div.photo", { dataset: { uuid: item.uuid } }, el("img", { src: item.url, alt: "" }), remove);
      this.list.insertBefore(node, this.list.querySelector(".photo-busy"));
    }
  }
}
