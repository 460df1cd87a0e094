/* The stored messages this page knows, by id, with the text each holds. */

import { newState } from "./offsets.js";

/**
 * id -> {id, el, role, status, text, length, html, settledUpto}; while a reply streams,
 * settledUpto is the code-point offset up to which its settled blocks' HTML is shown.
 */
export const messages = new Map();

export function register(el, id, role, status, text) {
  el.dataset.messageId = String(id);
  el.id = "message-" + id;
  const entry = Object.assign({ id, el, role, status, html: null, settledUpto: 0 }, newState(text));
  messages.set(id, entry);
  return entry;
}

export function streamingEntries() {
  const list = [];
  for (const entry of messages.values()) if (entry.status === "streaming") list.push(entry);
  return list;
}

/* A reply streams in this conversation. */
export function isBusy() {
  return streamingEntries().length > 0;
}
