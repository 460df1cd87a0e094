/*
 * The model's thinking, shown apart: a collapsed <details> above the answer
 * ("Thinking…", then "Thought for N s") that can be opened while it streams.
 * Its text has offsets of its own (reply.delta with part "reasoning"), applied by
 * the same rule as the answer's; at the end the server's HTML replaces the text.
 */

import { decorate } from "./decorate.js";
import { formatCount, toInt } from "./format.js";
import { gettext, interpolate } from "./i18n.js";
import { applyDelta, applySnapshot, newState } from "./offsets.js";

function find(entry, selector) {
  return entry.el.querySelector(selector);
}

/* The thinking this page holds: {text, length}, first read from the server's page. */
function state(entry) {
  if (!entry.reasoning) {
    const textEl = find(entry, ".message-reasoning-text");
    entry.reasoning = newState(textEl ? textEl.textContent : "");
  }
  return entry.reasoning;
}

function label(entry) {
  const box = find(entry, ".message-reasoning");
  const summary = find(entry, ".message-reasoning-label");
  if (!box || !summary) return;
  const ms = toInt(box.dataset.reasoningMs);
  let words;
  if (entry.status === "streaming") {
    words = entry.length ? gettext("Thought") : gettext("Thinking…");
  } else {
    const seconds = Math.max(1, Math.round((ms || 0) / 1000));
    words = interpolate(gettext("Thought for %(seconds)s s"), { seconds: formatCount(seconds) });
  }
  if (summary.textContent !== words) summary.textContent = words;
}

function showText(entry) {
  const box = find(entry, ".message-reasoning");
  const textEl = find(entry, ".message-reasoning-text");
  if (!box || !textEl) return;
  textEl.textContent = entry.reasoning.text; // text, never HTML
  box.hidden = entry.reasoning.length === 0;
  label(entry);
}

/* A reasoning delta: "gap" (the caller resyncs), "appended" or "old". */
export function applyReasoningDelta(entry, offset, text) {
  const result = applyDelta(state(entry), offset, text);
  if (result.gap) return "gap";
  if (!result.appended) return "old";
  const hadText = entry.reasoning.length > 0;
  entry.reasoning = result.state;
  const textEl = find(entry, ".message-reasoning-text");
  const node = textEl && textEl.firstChild;
  if (hadText && node && node.nodeType === Node.TEXT_NODE) node.appendData(result.appended);
  else showText(entry);
  return "appended";
}

/* A snapshot's (or a stored message's) thinking, when it covers more than ours. */
export function applyReasoningSnapshot(entry, text) {
  const result = applySnapshot(state(entry), typeof text === "string" ? text : "");
  if (!result.replaced || result.state.length === state(entry).length) return;
  entry.reasoning = result.state;
  showText(entry);
}

/* The answer's text has started (or grown): the model has stopped thinking. */
export function answerStarted(entry) {
  if (entry.reasoning && entry.reasoning.length) label(entry);
}

/* Whether the thinking known to this page ended short of `offset` (a heartbeat's). */
export function reasoningBehind(entry, offset) {
  return offset !== null && offset > state(entry).length;
}

/* The answer ended: the server's HTML of its thinking, and how long it took. */
export function finishReasoning(entry, ev) {
  const box = find(entry, ".message-reasoning");
  const htmlEl = find(entry, ".message-reasoning-html");
  const textEl = find(entry, ".message-reasoning-text");
  if (!box || !htmlEl || !textEl) return;
  if (ev.reasoning_ms != null) box.dataset.reasoningMs = ev.reasoning_ms;
  const html = typeof ev.reasoning_html === "string" ? ev.reasoning_html : "";
  if (typeof ev.reasoning === "string" || html) {
    // The stored thinking is the truth (none at all for a withheld answer).
    entry.reasoning = newState(typeof ev.reasoning === "string" ? ev.reasoning : "");
    textEl.textContent = entry.reasoning.text;
  }
  if (html.trim()) {
    htmlEl.innerHTML = html; // the server's sanitized HTML
    decorate(htmlEl);
  } else {
    htmlEl.replaceChildren();
  }
  htmlEl.hidden = !html.trim();
  textEl.hidden = !htmlEl.hidden;
  box.hidden = !html.trim() && state(entry).length === 0;
  label(entry);
}
