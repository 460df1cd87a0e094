/*
 * Message elements: built from chat.html's <template id="message-template">, kept in
 * id order, and updated as a reply streams and ends (text, status badge, stats, error).
 */

import { cfg, els } from "./page.js";
import { messages, register } from "./message-store.js";
import { updateBusy } from "./busy.js";
import { scheduleScroll } from "./scroll.js";
import { decorate } from "./decorate.js";
import { formatCount, formatDuration, setTime, toInt } from "./format.js";
import { dropCodePoints } from "./offsets.js";
import { announce } from "./notices.js";
import { gettext, interpolate } from "./i18n.js";
import { finishReasoning } from "./reasoning-view.js";

const STATUS_LABELS = {
  stopped: gettext("Stopped"),
  failed: gettext("Failed"),
  interrupted: gettext("Interrupted"),
};
const ERROR_DEFAULTS = {
  failed: gettext("Something went wrong while answering."),
  interrupted: gettext("The answer was interrupted."),
};

export function buildMessageEl(role, status) {
  // The markup lives once, in chat.html's <template id="message-template">.
  const el = els.template.content.firstElementChild.cloneNode(true);
  el.classList.add("message-" + role);
  el.dataset.role = role;
  el.dataset.status = status;
  if (role !== "assistant") {
    for (const part of el.querySelectorAll("[data-assistant-only]")) part.remove();
  }
  if (role !== "user") {
    for (const part of el.querySelectorAll("[data-user-only]")) part.remove();
  }
  const author = el.querySelector(".message-author");
  if (author) {
    author.textContent =
      role === "user" ? gettext("You") : role === "system" ? gettext("System") : cfg.model || gettext("Assistant");
  }
  setTime(el.querySelector(".message-time"), new Date().toISOString());
  return el;
}

export function insertMessageEl(el, id) {
  hideEmptyState();
  if (id != null) {
    for (const other of els.messages.children) {
      const otherId = toInt(other.dataset.messageId);
      if (otherId !== null && otherId > id) {
        els.messages.insertBefore(el, other);
        return;
      }
    }
  }
  els.messages.appendChild(el);
}

/* The entry of reply `id`, made (streaming, empty) if this page hasn't seen it yet. */
export function ensureAssistant(id, info) {
  let entry = messages.get(id);
  if (entry) return entry;
  const el = buildMessageEl("assistant", "streaming");
  el.setAttribute("aria-busy", "true");
  entry = register(el, id, "assistant", "streaming", "");
  if (info && info.model) setModel(entry, info.model);
  if (info && info.created_at) setTime(el.querySelector(".message-time"), info.created_at);
  insertMessageEl(el, id);
  refreshLatest();
  updateBusy();
  scheduleScroll();
  return entry;
}

export function part(entry, selector) {
  return entry.el.querySelector(selector);
}

export function setModel(entry, model) {
  if (!model) return;
  entry.el.dataset.model = model;
  const author = part(entry, ".message-author");
  if (author) author.textContent = model;
}

/* The text element's one text node, if it has exactly that. */
function tailNode(textEl) {
  const node = textEl.firstChild;
  return node && node === textEl.lastChild && node.nodeType === Node.TEXT_NODE ? node : null;
}

/* Show the text after the settled blocks (all of it when nothing is settled). */
export function renderText(entry) {
  const textEl = part(entry, ".message-text");
  if (!textEl) return;
  const tail = entry.settledUpto ? dropCodePoints(entry.text, entry.settledUpto) : entry.text;
  const node = tailNode(textEl);
  if (node) node.data = tail; // text, never HTML
  else textEl.textContent = tail;
}

/* Text was added at the end of `entry.text`; `before` is its length until then. */
export function appendText(entry, appended, before) {
  const textEl = part(entry, ".message-text");
  if (!textEl) return;
  const node = tailNode(textEl);
  if (node && entry.settledUpto <= before) node.appendData(appended); // text, never HTML
  else renderText(entry);
}

/* Parse server HTML into nodes and decorate them, before they join the page. */
function decoratedNodes(html) {
  const holder = document.createElement("div");
  holder.innerHTML = html; // the server's sanitized HTML
  decorate(holder);
  return holder.childNodes;
}

/*
 * reply.blocks: the blocks settled between `offset` and `upto`, rendered by the server.
 * Appended after what is shown (never rebuilt), like a delta by offset: a frame this
 * page already has is skipped; one that starts past it is a gap (the caller resyncs).
 */
export function appendSettled(entry, offset, upto, html) {
  if (upto <= entry.settledUpto) return "old";
  if (offset !== entry.settledUpto) return "gap";
  const htmlEl = part(entry, ".message-html");
  if (!htmlEl) return "old";
  htmlEl.append(...decoratedNodes(html));
  htmlEl.hidden = false;
  entry.settledUpto = upto;
  renderText(entry);
  return "appended";
}

/* A snapshot's settled HTML replaces the preview when it covers more of the text. */
export function replaceSettled(entry, upto, html) {
  if (upto === null || upto <= entry.settledUpto || typeof html !== "string") return false;
  const htmlEl = part(entry, ".message-html");
  if (!htmlEl) return false;
  htmlEl.replaceChildren(...decoratedNodes(html));
  htmlEl.hidden = false;
  entry.settledUpto = upto;
  return true;
}

export function setStatus(entry, status) {
  entry.status = status;
  entry.el.dataset.status = status;
  if (status === "streaming") entry.el.setAttribute("aria-busy", "true");
  else entry.el.removeAttribute("aria-busy");
  const badge = part(entry, ".message-badge");
  if (badge) {
    const label = STATUS_LABELS[status];
    badge.textContent = label || "";
    badge.hidden = !label;
  }
  const queue = part(entry, ".message-queue");
  if (queue && status !== "streaming") queue.hidden = true;
}

function renderStats(entry) {
  const stats = part(entry, ".message-stats");
  if (!stats) return;
  const d = entry.el.dataset;
  const promptTokens = toInt(d.promptTokens);
  const completionTokens = toInt(d.completionTokens);
  const ttft = toInt(d.ttftMs);
  const duration = toInt(d.durationMs);
  const items = [];
  if (promptTokens !== null || completionTokens !== null) {
    items.push([
      interpolate(gettext("%(prompt)s → %(completion)s tokens"), {
        prompt: formatCount(promptTokens),
        completion: formatCount(completionTokens),
      }),
      gettext("Prompt tokens → completion tokens"),
      "stat-tokens",
    ]);
  }
  if (ttft !== null) {
    items.push([
      interpolate(gettext("%(duration)s to first token"), { duration: formatDuration(ttft) }),
      gettext("Time to first token"),
      "stat-ttft",
    ]);
  }
  if (duration !== null) items.push([formatDuration(duration), gettext("Total time"), "stat-duration"]);
  stats.replaceChildren(
    ...items.map(([text, title, cls]) => {
      const span = document.createElement("span");
      span.className = "stat " + cls;
      span.title = title;
      span.textContent = text;
      return span;
    })
  );
}

function setCopyable(entry) {
  const copy = part(entry, ".copy-btn");
  if (copy) copy.hidden = entry.length === 0;
}

function setError(entry, status, error) {
  const box = part(entry, ".message-error");
  if (!box) return;
  const show = status === "failed" || status === "interrupted";
  box.hidden = !show;
  if (show) {
    const textEl = box.querySelector(".message-error-text");
    if (textEl) textEl.textContent = error ? gettext(error) : ERROR_DEFAULTS[status];
    const retry = box.querySelector(".retry-btn");
    if (retry) retry.disabled = false;
  }
}

/* A reply has ended (reply.done, or a stored assistant message event). */
export function finishReply(entry, ev) {
  const wasStreaming = entry.status === "streaming";
  const status = ev.status || "complete";
  setStatus(entry, status);
  if (ev.model) setModel(entry, ev.model);
  finishReasoning(entry, ev);
  const textEl = part(entry, ".message-text");
  const htmlEl = part(entry, ".message-html");
  // The final HTML is the truth: it replaces the live preview of settled blocks.
  const previewed = entry.settledUpto > 0;
  entry.settledUpto = 0;
  if (typeof ev.html === "string" && ev.html.trim() && htmlEl) {
    if (entry.html !== ev.html || previewed) {
      entry.html = ev.html;
      htmlEl.innerHTML = ev.html; // the server's sanitized HTML
      decorate(htmlEl);
    }
    htmlEl.hidden = false;
    if (textEl) {
      textEl.hidden = true;
      renderText(entry); // the whole raw Markdown again, kept hidden
    }
  } else {
    // No HTML from the server: nothing to show (or withheld by moderation,
    // whose text and preview must leave the page).
    if (htmlEl) {
      htmlEl.hidden = true;
      htmlEl.replaceChildren();
    }
    entry.text = "";
    entry.length = 0;
    if (textEl) {
      renderText(entry);
      textEl.hidden = true;
    }
  }
  const d = entry.el.dataset;
  if (ev.usage) {
    if (ev.usage.prompt_tokens != null) d.promptTokens = ev.usage.prompt_tokens;
    if (ev.usage.completion_tokens != null) d.completionTokens = ev.usage.completion_tokens;
  }
  if (ev.ttft_ms != null) d.ttftMs = ev.ttft_ms;
  if (ev.duration_ms != null) d.durationMs = ev.duration_ms;
  renderStats(entry);
  setCopyable(entry);
  setError(entry, status, ev.error);
  refreshLatest();
  updateBusy();
  scheduleScroll();
  if (wasStreaming) {
    const words = {
      complete: gettext("Answer complete"),
      stopped: gettext("Answer stopped"),
      failed: interpolate(gettext("Answer failed: %(error)s"), {
        error: ev.error ? gettext(ev.error) : ERROR_DEFAULTS.failed,
      }),
      interrupted: gettext("Answer interrupted"),
    };
    announce(words[status] || words.complete);
  }
}

/* Only the newest reply (.is-latest) offers Regenerate. */
export function refreshLatest() {
  let latest = null;
  for (const el of els.messages.querySelectorAll('.message[data-role="assistant"]')) latest = el;
  for (const el of els.messages.querySelectorAll(".message.is-latest")) {
    if (el !== latest) el.classList.remove("is-latest");
  }
  if (latest) latest.classList.add("is-latest");
}

function hideEmptyState() {
  if (els.emptyState) els.emptyState.hidden = true;
}

export function showEmptyStateIfNone() {
  if (els.emptyState && !els.messages.querySelector(".message")) els.emptyState.hidden = false;
}

/* Take in the messages the server rendered into the page. */
export function adoptServerMessages() {
  for (const el of els.messages.querySelectorAll(".message[data-message-id]")) {
    const id = toInt(el.dataset.messageId);
    if (id === null) continue;
    const textEl = el.querySelector(".message-text");
    const entry = register(el, id, el.dataset.role, el.dataset.status, textEl ? textEl.textContent : "");
    const htmlEl = el.querySelector(".message-html");
    if (htmlEl && !htmlEl.hidden) entry.html = htmlEl.innerHTML;
    renderStats(entry);
    setCopyable(entry);
    setTime(el.querySelector(".message-time"));
  }
  decorate(els.messages);
  refreshLatest();
}
