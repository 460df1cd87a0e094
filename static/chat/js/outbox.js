/*
 * Sends not yet stored: each shows at once as a pending message and goes out when
 * the socket is open, again with the same client_id after a reconnect. The first
 * message of a new chat waits in sessionStorage across the move to its page.
 */

import { isOpen, sendFrame } from "./socket.js";
import { buildMessageEl, insertMessageEl } from "./message-view.js";
import { followLatest, scheduleScroll } from "./scroll.js";

const PENDING_KEY = "chat.pendingSend";

/** client_id -> {clientId, content, el, sent, fromStorage}: sends not yet stored */
export const pending = new Map();

export function newClientId() {
  if (window.crypto && typeof crypto.randomUUID === "function") {
    try {
      return crypto.randomUUID();
    } catch (err) {
      /* insecure context: fall through */
    }
  }
  const bytes = new Uint8Array(16);
  if (window.crypto && crypto.getRandomValues) {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
}

export function flushOutbox() {
  if (!isOpen()) return;
  for (const p of pending.values()) {
    if (p.sent) continue;
    if (sendFrame({ type: "send", content: p.content, client_id: p.clientId })) {
      p.sent = true;
      if (p.fromStorage) clearStoredPending();
    }
  }
}

/* The socket is gone: whatever went out unanswered goes again, same client_id. */
export function markUnsent() {
  for (const p of pending.values()) p.sent = false;
}

export function queueSend(content, clientId, fromStorage) {
  const el = buildMessageEl("user", "pending");
  el.dataset.clientId = clientId;
  const textEl = el.querySelector(".message-text");
  if (textEl) textEl.textContent = content;
  insertMessageEl(el, null);
  pending.set(clientId, { clientId, content, el, sent: false, fromStorage: !!fromStorage });
  followLatest();
  scheduleScroll();
  flushOutbox();
}

export function storePending(value) {
  try {
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(value));
  } catch (err) {
    /* storage off: the new page opens with an empty composer */
  }
}

export function clearStoredPending() {
  try {
    sessionStorage.removeItem(PENDING_KEY);
  } catch (err) {
    /* storage off */
  }
}

/*
 * Send the message a new chat was started with, if it was meant for this page.
 * Returns the text of one that wasn't (stale, or for another page), to give back
 * to the composer rather than send it here; else null.
 */
export function takeStoredPending() {
  let raw = null;
  try {
    raw = sessionStorage.getItem(PENDING_KEY);
  } catch (err) {
    return null;
  }
  if (!raw) return null;
  let value = null;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    value = null;
  }
  if (!value || typeof value !== "object") value = { content: raw };
  if (typeof value.content !== "string" || !value.content.trim()) {
    clearStoredPending();
    return null;
  }
  const stale = value.at && Date.now() - value.at > 10 * 60 * 1000;
  const elsewhere = value.path && value.path !== location.pathname;
  if (stale || elsewhere) {
    clearStoredPending();
    return value.content;
  }
  queueSend(value.content, typeof value.clientId === "string" ? value.clientId : newClientId(), true);
  return null;
}
