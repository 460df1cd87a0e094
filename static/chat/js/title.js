/*
 * The conversation's title: renamed in place (#title-input saves on blur, Escape
 * undoes), and kept the same in the header, the sidebar and the tab.
 */

import { conversationId, csrfToken, els, siteName } from "./page.js";
import { announce, showBanner } from "./notices.js";
import { gettext } from "./i18n.js";

let savedTitle = els.titleInput ? els.titleInput.value : "";
const fieldSizing = window.CSS && CSS.supports && CSS.supports("field-sizing", "content");

/* Show `title` for conversation `id` wherever it appears on this page. */
export function applyTitle(id, title) {
  const shown = title || gettext("New chat");
  if (els.sidebar) {
    // In the dated list or the pinned one.
    const item = els.sidebar.querySelector('li[data-conversation-id="' + id + '"]');
    const label = item && item.querySelector(".conversation-title");
    if (label) label.textContent = shown;
  }
  if (id === conversationId) {
    savedTitle = title;
    if (els.chatTitle) els.chatTitle.textContent = shown;
    if (els.titleInput && document.activeElement !== els.titleInput) {
      els.titleInput.value = title;
      sizeTitle();
    }
    document.title = shown + " · " + siteName;
  }
}

// Where CSS can't size the field to its content.
function sizeTitle() {
  if (els.titleInput && !fieldSizing) {
    els.titleInput.size = Math.max(8, Math.min(60, (els.titleInput.value || els.titleInput.placeholder).length + 1));
  }
}

async function saveTitle() {
  if (!els.titleForm || !els.titleInput) return;
  const title = els.titleInput.value.trim();
  if (!title) {
    els.titleInput.value = savedTitle; // a title can't be empty
    return;
  }
  if (title === savedTitle) return;
  const previous = savedTitle;
  savedTitle = title;
  const body = new FormData(els.titleForm);
  body.set("title", title);
  try {
    const response = await fetch(els.titleForm.action, {
      method: "POST",
      body,
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    applyTitle(conversationId, title);
    announce(gettext("Conversation renamed"));
  } catch (err) {
    savedTitle = previous;
    els.titleInput.value = previous;
    showBanner(gettext("Couldn't rename the conversation. Try again."));
  }
}

export function initTitle() {
  sizeTitle();
  if (!els.titleForm || !els.titleInput) return;
  els.titleForm.addEventListener("submit", (e) => {
    e.preventDefault();
    els.titleInput.blur(); // blur saves
  });
  els.titleInput.addEventListener("blur", saveTitle);
  els.titleInput.addEventListener("input", sizeTitle);
  els.titleInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      els.titleInput.value = savedTitle;
      els.titleInput.blur();
    }
  });
}
