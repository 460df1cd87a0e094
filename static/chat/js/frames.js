/*
 * Frames from the server, applied to the page: stored messages, a reply's start,
 * deltas (the offset rule), settled blocks (server HTML while it streams), snapshots,
 * heartbeats, its place in the queue, its end, errors, and conversation changes (the
 * title).
 */

import { els } from "./page.js";
import { messages, register } from "./message-store.js";
import {
  appendSettled,
  appendText,
  buildMessageEl,
  ensureAssistant,
  finishReply,
  insertMessageEl,
  part,
  refreshLatest,
  renderText,
  replaceSettled,
  setModel,
  setStatus,
  showEmptyStateIfNone,
} from "./message-view.js";
import { applyDelta, applySnapshot, codePointLength } from "./offsets.js";
import { requestResync } from "./socket.js";
import { clearStoredPending, pending } from "./outbox.js";
import { restoreToComposer } from "./composer.js";
import { applyTitle } from "./title.js";
import { resetStopButton, updateBusy } from "./busy.js";
import { scheduleScroll } from "./scroll.js";
import { formatCount, setTime, toInt } from "./format.js";
import { announce, showBanner } from "./notices.js";
import { gettext, interpolate } from "./i18n.js";
import { showQuotaReached, showUsage } from "./usage.js";
import { applyPath, noteMessage } from "./branches.js";
import { editFailed, editStored } from "./edit.js";
import { applyConversationSettings, configureFailed } from "./settings.js";
import { answerStarted, applyReasoningDelta, applyReasoningSnapshot, reasoningBehind } from "./reasoning-view.js";

export function handleFrame(data) {
  switch (data.type) {
    case "message":
      onMessage(data);
      break;
    case "reply.start":
      onReplyStart(data);
      break;
    case "reply.delta":
      onDelta(data);
      break;
    case "reply.blocks":
      onBlocks(data);
      break;
    case "reply.snapshot":
      onSnapshot(data);
      break;
    case "reply.heartbeat":
      onHeartbeat(data);
      break;
    case "reply.queued":
      onQueued(data);
      break;
    case "reply.done":
      onDone(data);
      break;
    case "error":
      onError(data);
      break;
    case "conversation":
      onConversation(data.conversation || data);
      break;
    case "usage":
      showUsage(data);
      break;
    case "conversation.path":
      applyPath(data);
      break;
    default:
      break;
  }
}

function messageId(data) {
  return toInt(data.message_id);
}

function onMessage(data) {
  const m = data.message;
  if (!m || toInt(m.id) === null) return;
  const id = toInt(m.id);
  const clientId = data.client_id || m.client_id || null;
  let entry = messages.get(id);
  if (!entry) {
    let mine = clientId ? pending.get(clientId) : null;
    if (!mine && !clientId && m.role === "user") {
      for (const p of pending.values()) {
        if (p.content === m.content) {
          mine = p;
          break;
        }
      }
    }
    let el;
    if (mine) {
      pending.delete(mine.clientId);
      if (mine.fromStorage) clearStoredPending();
      el = mine.el;
    } else {
      el = buildMessageEl(m.role || "user", m.status || "complete");
      insertMessageEl(el, id);
    }
    entry = register(el, id, m.role || "user", m.status || "complete", "");
  }
  if (m.created_at) setTime(part(entry, ".message-time"), m.created_at);
  noteMessage(entry, m);
  editStored(clientId);
  if (entry.role === "assistant") {
    if (m.model) setModel(entry, m.model);
    if (m.status === "streaming") {
      applyReasoningSnapshot(entry, m.reasoning);
      applySnapshotText(entry, m.content || "");
      setStatus(entry, "streaming");
      updateBusy();
    } else {
      applySnapshotText(entry, m.content || "");
      finishReply(entry, m);
    }
  } else {
    entry.text = m.content || "";
    entry.length = codePointLength(entry.text);
    renderText(entry);
    setStatus(entry, m.status || "complete");
  }
  refreshLatest();
  scheduleScroll();
}

function onReplyStart(data) {
  const id = messageId(data);
  if (id === null) return;
  const existed = messages.has(id);
  const entry = ensureAssistant(id, data);
  if (existed && entry.status !== "streaming") return; // a late duplicate
  if (data.model) setModel(entry, data.model);
  if (data.created_at) setTime(part(entry, ".message-time"), data.created_at);
  updateBusy();
  announce(gettext("Answering…"));
}

function onDelta(data) {
  const id = messageId(data);
  if (id === null) return;
  const entry = messages.get(id) || ensureAssistant(id, data);
  if (entry.status !== "streaming") return;
  if (data.part === "reasoning") {
    // The thinking: its own offsets, its own element.
    const outcome = applyReasoningDelta(entry, data.offset, data.text);
    if (outcome === "gap") requestResync(id, 1000);
    else if (outcome === "appended") {
      hideQueue(entry);
      scheduleScroll();
    }
    return;
  }
  if (data.part && data.part !== "answer") return; // a part this page does not know
  const result = applyDelta(entry, data.offset, data.text);
  if (result.gap) {
    requestResync(id, 1000);
    return;
  }
  if (!result.appended) return;
  const before = entry.length;
  entry.text = result.state.text;
  entry.length = result.state.length;
  hideQueue(entry);
  appendText(entry, result.appended, before);
  answerStarted(entry);
  scheduleScroll();
}

function hideQueue(entry) {
  const queue = part(entry, ".message-queue");
  if (queue) queue.hidden = true;
}

function onBlocks(data) {
  const id = messageId(data);
  const offset = toInt(data.offset);
  const upto = toInt(data.upto);
  if (id === null || offset === null || upto === null || typeof data.html !== "string") return;
  const entry = messages.get(id) || ensureAssistant(id, data);
  if (entry.status !== "streaming") return; // reply.done's HTML already replaced the preview
  const result = appendSettled(entry, offset, upto, data.html);
  if (result === "gap") requestResync(id, 1000);
  else if (result === "appended") scheduleScroll();
}

function applySnapshotText(entry, text) {
  const result = applySnapshot(entry, text);
  if (!result.replaced) return false;
  entry.text = result.state.text;
  entry.length = result.state.length;
  const htmlShown = part(entry, ".message-html") && !part(entry, ".message-html").hidden;
  if (entry.status === "streaming" || !htmlShown) renderText(entry);
  return true;
}

function onSnapshot(data) {
  const id = messageId(data);
  if (id === null) return;
  const entry = messages.get(id) || ensureAssistant(id, data);
  const settled = entry.status === "streaming" && replaceSettled(entry, toInt(data.upto), data.html);
  if (entry.status === "streaming") applyReasoningSnapshot(entry, data.reasoning);
  const replaced = applySnapshotText(entry, data.text);
  if (settled && !replaced) renderText(entry);
  if (settled || replaced) scheduleScroll();
}

function onHeartbeat(data) {
  const id = messageId(data);
  if (id === null) return;
  const entry = messages.get(id);
  if (!entry) {
    requestResync(id, 1000);
    return;
  }
  if (entry.status !== "streaming") return;
  const behind = toInt(data.offset) !== null && toInt(data.offset) > entry.length;
  if (behind || reasoningBehind(entry, toInt(data.reasoning_offset))) requestResync(id, 1000);
}

function onQueued(data) {
  const id = messageId(data);
  if (id === null) return;
  const entry = messages.get(id) || ensureAssistant(id, data);
  const queue = part(entry, ".message-queue");
  if (!queue || entry.status !== "streaming" || entry.length > 0) return;
  const position = toInt(data.position);
  queue.textContent = position
    ? interpolate(gettext("Waiting in line (position %(position)s)…"), { position: formatCount(position) })
    : gettext("Waiting in line…");
  queue.hidden = false;
}

function onDone(data) {
  const id = messageId(data);
  if (id === null) return;
  const entry = messages.get(id) || ensureAssistant(id, data);
  finishReply(entry, data);
}

function onError(data) {
  const text = data.message || gettext("Something went wrong.");
  const id = messageId(data);
  // An error that answers a send: take the optimistic message back and
  // hand its text back to the composer.
  let failedSend = null;
  if (data.client_id && pending.has(data.client_id)) {
    failedSend = pending.get(data.client_id);
  } else if (data.request === "send" || (id === null && !data.request)) {
    for (const p of pending.values()) {
      if (p.sent) {
        failedSend = p;
        break;
      }
    }
  }
  if (failedSend) {
    pending.delete(failedSend.clientId);
    if (failedSend.fromStorage) clearStoredPending();
    failedSend.el.remove();
    restoreToComposer(failedSend.content);
    showEmptyStateIfNone();
  }
  if (data.request === "stop" || (id !== null && data.code === "not_running")) {
    resetStopButton();
    // Already finished: fetch its end in case the reply.done was lost.
    if (id !== null) requestResync(id, 0);
    if (data.code === "not_running") return;
  }
  if (data.request === "resync" && id !== null) {
    const entry = messages.get(id);
    if (entry && entry.status === "streaming" && data.code === "not_found") {
      finishReply(entry, { status: "interrupted", error: text });
    }
    return; // the watchdog would repeat this banner every few seconds
  }
  if (data.request === "edit") editFailed(data);
  if (data.request === "configure") configureFailed();
  if (data.request === "regenerate") {
    for (const b of els.messages.querySelectorAll(".retry-btn, .regenerate-btn")) b.disabled = false;
  }
  // A limit (rate_limited, too_many_streams, quota): its message says when to retry.
  if (data.code === "quota") showQuotaReached(data.limit);
  showBanner(text);
  announce(text);
}

function onConversation(c) {
  if (!c || toInt(c.id) === null) return;
  if (typeof c.title === "string") applyTitle(toInt(c.id), c.title);
  applyConversationSettings(c);
}
