/*
 * Branches: messages form a tree and the page shows one branch, the one stored on
 * the conversation. A `conversation.path` frame (after an edit, a regenerate or a
 * switch, from any tab on any process) names that branch root to leaf, with the
 * siblings of its messages; this module shows it: the messages the page knows are
 * put in path order and the others taken off the page (kept, in case the path
 * comes back), and a path with messages the page never saw reloads the thread
 * from the server. Each message with siblings shows ‹ 2 / 3 ›; its arrows (and
 * Alt+←/→ for the newest such message) ask the server to `switch`.
 */

import { conversationId, els } from "./page.js";
import { isBusy, messages } from "./message-store.js";
import { adoptServerMessages, ensureAssistant, refreshLatest, showEmptyStateIfNone } from "./message-view.js";
import { sendFrame } from "./socket.js";
import { updateBusy } from "./busy.js";
import { pending } from "./outbox.js";
import { scheduleScroll } from "./scroll.js";
import { showBanner } from "./notices.js";
import { toInt } from "./format.js";
import { isTyping } from "./keyboard.js";
import { gettext } from "./i18n.js";

let reloading = null;
let reloadAgain = false;
let socketOpenedBefore = false;

function siblingsOf(el) {
  return (el.dataset.siblings || "").split(",").map(toInt).filter((id) => id !== null);
}

/* Show ‹ i / n › on a message element, from its siblings' ids (itself included). */
function renderSiblings(el, ids) {
  el.dataset.siblings = ids.join(",");
  const nav = el.querySelector(".branch-nav");
  if (!nav) return;
  const index = ids.indexOf(toInt(el.dataset.messageId));
  const shown = ids.length > 1 && index >= 0;
  nav.hidden = !shown;
  nav.querySelector(".branch-count").textContent = shown ? index + 1 + " / " + ids.length : "";
  nav.querySelector('[data-action="branch-prev"]').disabled = !shown || index === 0;
  nav.querySelector('[data-action="branch-next"]').disabled = !shown || index === ids.length - 1;
}

/* A stored message arrived (`message` frame): note where it hangs in the tree. */
export function noteMessage(entry, message) {
  entry.el.dataset.parentId = message.parent_id == null ? "" : String(message.parent_id);
}

/* Apply a `conversation.path` frame: show that branch. */
export function applyPath(data) {
  if (toInt(data.id) !== conversationId || !Array.isArray(data.path)) return;
  const path = data.path.map(toInt);
  const leaf = path[path.length - 1];
  const parent = messages.get(path[path.length - 2]);
  // A new answer (regenerated, or to an edit): its own frames fill it in.
  if (leaf != null && !messages.has(leaf) && parent && parent.role === "user") {
    ensureAssistant(leaf, {});
  }
  // Messages older than the page shows ("Show earlier") are not missing.
  const firstKnown = path.findIndex((id) => messages.has(id));
  if (path.length && (firstKnown < 0 || path.slice(firstKnown).some((id) => !messages.has(id)))) {
    reloadThread();
    return;
  }
  const onPath = new Set(path);
  for (const entry of messages.values()) {
    if (!onPath.has(entry.id)) entry.el.remove();
  }
  const unsent = [...els.messages.querySelectorAll(".message:not([data-message-id])")];
  for (const id of path.slice(firstKnown)) {
    const entry = messages.get(id);
    els.messages.appendChild(entry.el);
    renderSiblings(entry.el, (data.siblings && data.siblings[id]) || [id]);
  }
  for (const el of unsent) els.messages.appendChild(el);
  refreshLatest();
  updateBusy();
  showEmptyStateIfNone();
  scheduleScroll();
}

/* Fetch this conversation's page and take its thread: the server renders it. */
export async function reloadThread() {
  if (reloading) {
    reloadAgain = true;
    return reloading;
  }
  reloading = (async () => {
    try {
      do {
        reloadAgain = false;
        const known = new Set(messages.keys());
        const response = await fetch(location.pathname + location.search, { credentials: "same-origin" });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById("messages");
        if (!fresh) throw new Error("no thread in the page");
        // Messages that arrived while the page loaded, and are not in it, stay
        // after it (their frames came after it was rendered); so do sends not
        // stored yet.
        const inPage = new Set([...fresh.children].map((el) => toInt(el.dataset.messageId)));
        const later = [...messages.values()].filter(
          (entry) => !known.has(entry.id) && !inPage.has(entry.id) && entry.el.isConnected
        );
        const unsent = [...els.messages.querySelectorAll(".message:not([data-message-id])")];
        messages.clear();
        els.messages.replaceChildren(...fresh.children);
        const earlier = document.querySelector(".earlier");
        const freshEarlier = page.querySelector(".earlier");
        if (earlier) earlier.remove();
        if (freshEarlier) els.messages.before(freshEarlier);
        adoptServerMessages();
        els.messages.append(...later.map((entry) => entry.el), ...unsent);
        for (const entry of later) messages.set(entry.id, entry);
        updateBusy();
        showEmptyStateIfNone();
        scheduleScroll();
      } while (reloadAgain);
    } catch (err) {
      showBanner(gettext("Couldn't show that branch. Reload the page."));
    } finally {
      reloading = null;
    }
  })();
  return reloading;
}

/* The socket is open. After a reconnect, a switch made meanwhile may have been
   missed: when nothing is in flight, take the thread as the server has it. */
export function onSocketOpen() {
  if (socketOpenedBefore && !isBusy() && pending.size === 0) reloadThread();
  socketOpenedBefore = true;
}

function switchTo(el, step) {
  const ids = siblingsOf(el);
  const target = ids[ids.indexOf(toInt(el.dataset.messageId)) + step];
  if (target == null) return;
  if (isBusy()) {
    showBanner(gettext("An answer is still being written. Wait for it, or stop it with Esc."));
    return;
  }
  if (!sendFrame({ type: "switch", message_id: target })) {
    showBanner(gettext("Not connected right now. Try again in a moment."));
  }
}

export function initBranches() {
  els.messages.addEventListener("click", (e) => {
    const button = e.target instanceof Element ? e.target.closest("[data-action^='branch-']") : null;
    if (!button) return;
    const el = button.closest(".message");
    if (el) switchTo(el, button.dataset.action === "branch-prev" ? -1 : 1);
  });
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || isTyping(e.target)) return;
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const withSiblings = [...els.messages.querySelectorAll(".message[data-siblings*=',']")];
    const newest = withSiblings[withSiblings.length - 1];
    if (!newest) return;
    e.preventDefault();
    switchTo(newest, e.key === "ArrowLeft" ? -1 : 1);
  });
}
