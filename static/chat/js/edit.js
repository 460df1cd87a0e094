/*
 * Editing a user message in place: Edit opens a box over its text; Enter saves
 * (Shift+Enter breaks the line), Escape cancels. Saving sends `edit`: the server
 * stores the new text as a sibling of the old (a new branch) and answers it. The
 * box stays open, disabled, until the stored message comes back; an error
 * reopens it with the text as typed, so nothing is lost.
 */

import { els, maxChars } from "./page.js";
import { isBusy, messages } from "./message-store.js";
import { sendFrame } from "./socket.js";
import { newClientId } from "./outbox.js";
import { hideBanner, showBanner } from "./notices.js";
import { codePointLength } from "./offsets.js";
import { formatCount, toInt } from "./format.js";
import { gettext, interpolate } from "./i18n.js";

let open = null; // {el, id, box, input, clientId}

function closeEditor() {
  if (!open) return;
  const { el, box } = open;
  box.remove();
  const text = el.querySelector(".message-text");
  if (text) text.hidden = false;
  el.classList.remove("is-editing");
  open = null;
}

function button(label, action, primary) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn btn-small" + (primary ? " btn-primary" : " btn-ghost");
  b.dataset.action = action;
  b.textContent = label;
  return b;
}

function openEditor(el) {
  const id = toInt(el.dataset.messageId);
  const entry = id === null ? null : messages.get(id);
  if (!entry) return;
  closeEditor();
  const box = document.createElement("div");
  box.className = "message-editor";
  const input = document.createElement("textarea");
  input.className = "edit-input";
  input.rows = Math.min(12, Math.max(2, entry.text.split("\n").length));
  input.value = entry.text;
  input.setAttribute("aria-label", gettext("Edit your message"));
  const actions = document.createElement("div");
  actions.className = "edit-actions";
  actions.append(
    button(gettext("Cancel"), "edit-cancel", false),
    button(gettext("Save and send"), "edit-save", true)
  );
  box.append(input, actions);
  const text = el.querySelector(".message-text");
  if (text) text.hidden = true;
  (text || el.querySelector(".message-body")).after(box);
  el.classList.add("is-editing");
  open = { el, id, box, input, clientId: null };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      closeEditor();
    } else if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.isComposing) {
      e.preventDefault();
      save();
    }
  });
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

function setSending(sending) {
  for (const control of open.box.querySelectorAll("textarea, button")) control.disabled = sending;
}

function save() {
  const content = open.input.value;
  const entry = messages.get(open.id);
  if (!content.trim()) {
    open.input.focus();
    return;
  }
  if (entry && content.trim() === entry.text.trim()) {
    closeEditor(); // nothing changed: no new branch
    return;
  }
  if (maxChars && codePointLength(content) > maxChars) {
    showBanner(
      interpolate(gettext("Your message is too long: the limit is %(limit)s characters."), {
        limit: formatCount(maxChars),
      })
    );
    return;
  }
  if (isBusy()) {
    showBanner(gettext("An answer is still being written. Wait for it, or stop it with Esc."));
    return;
  }
  open.clientId = newClientId();
  if (!sendFrame({ type: "edit", message_id: open.id, content, client_id: open.clientId })) {
    showBanner(gettext("Not connected right now. Try again in a moment."));
    return;
  }
  hideBanner();
  setSending(true);
}

/* A stored user message arrived: the edit it answers is done. */
export function editStored(clientId) {
  if (open && clientId && open.clientId === clientId) closeEditor();
}

/* The server refused the edit (the banner says why): edit again. */
export function editFailed(data) {
  if (!open || (data.client_id && data.client_id !== open.clientId)) return;
  setSending(false);
  open.input.focus();
}

export function initEdit() {
  els.messages.addEventListener("click", (e) => {
    const target = e.target instanceof Element ? e.target.closest("[data-action]") : null;
    if (!target) return;
    const action = target.dataset.action;
    if (action === "edit") openEditor(target.closest(".message"));
    else if (action === "edit-cancel") closeEditor();
    else if (action === "edit-save" && open) save();
  });
}
