/*
 * The composer (#composer): Enter sends (never while an input method composes),
 * Shift+Enter breaks the line, the box grows
 * with its text, a count shows near the limit, and the example prompts fill it. On
 * the page without a conversation, sending starts a new chat first.
 */

import { cfg, conversationId, csrfToken, els, maxChars } from "./page.js";
import { newClientId, queueSend, storePending } from "./outbox.js";
import { isFatal, isOpen } from "./socket.js";
import { isBusy } from "./message-store.js";
import { isStartingConversation, setStartingConversation } from "./busy.js";
import { announce, hideBanner, showBanner } from "./notices.js";
import { moveConversationToTop } from "./sidebar.js";
import { codePointLength } from "./offsets.js";
import { formatCount } from "./format.js";
import { gettext, interpolate } from "./i18n.js";

function autosize() {
  const area = els.input;
  area.style.height = "auto";
  area.style.height = area.scrollHeight + 2 + "px";
}

export function updateCount() {
  if (!els.charCount || !maxChars) return;
  const n = codePointLength(els.input.value);
  const show = n >= maxChars * 0.8;
  els.charCount.hidden = !show;
  if (show) {
    els.charCount.textContent = formatCount(n) + " / " + formatCount(maxChars);
    els.charCount.classList.toggle("is-over", n > maxChars);
  }
}

function setComposerText(text) {
  els.input.value = text;
  autosize();
  updateCount();
}

export function focusComposer() {
  if (!els.input) return;
  els.input.focus();
  const end = els.input.value.length;
  els.input.setSelectionRange(end, end);
}

/* Give an unsent message's text back, above anything typed since. */
export function restoreToComposer(content) {
  const current = els.input.value;
  if (current === content) return;
  setComposerText(current.trim() ? content + "\n\n" + current : content);
}

function submitComposer() {
  const content = els.input.value;
  if (!content.trim()) {
    els.input.focus();
    return;
  }
  const length = codePointLength(content);
  if (maxChars && length > maxChars) {
    showBanner(
      interpolate(gettext("Your message is too long: %(length)s characters, the limit is %(limit)s."), {
        length: formatCount(length),
        limit: formatCount(maxChars),
      })
    );
    return;
  }
  if (isBusy()) {
    showBanner(gettext("An answer is still being written. Wait for it, or stop it with Esc."));
    return;
  }
  if (conversationId === null) {
    startConversation(content);
    return;
  }
  if (isFatal()) {
    showBanner(gettext("Not connected to this conversation, so the message wasn't sent."));
    return;
  }
  hideBanner();
  queueSend(content, newClientId(), false);
  setComposerText("");
  moveConversationToTop(conversationId);
  if (!isOpen()) announce(gettext("Message queued until the connection is back"));
}

/* Create the conversation, then open its page, which sends the stored message. */
async function startConversation(content) {
  if (isStartingConversation()) return;
  setStartingConversation(true);
  hideBanner();
  try {
    const response = await fetch(cfg.newUrl || "/c/new/", {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    });
    const url = new URL(response.url, location.href);
    if (response.ok && /\/c\/\d+\/?$/.test(url.pathname) && url.origin === location.origin) {
      storePending({ content, clientId: newClientId(), path: url.pathname, at: Date.now() });
      location.assign(url.href);
      return;
    }
    if (response.ok && response.redirected) {
      location.assign(url.href); // e.g. the login page
      return;
    }
    throw new Error("HTTP " + response.status);
  } catch (err) {
    setStartingConversation(false);
    showBanner(gettext("Couldn't start a new chat. Check your connection and try again."));
  }
}

/*
 * Input methods (Chinese, Japanese, Korean, ...): the Enter that picks a candidate
 * must not send. While a composition is open the keydown says so (isComposing, or
 * keyCode 229 in browsers that report it), and compositionstart/compositionend
 * bracket it. Safari fires compositionend *before* the Enter's keydown, in the same
 * task: so an Enter in the task that ended a composition belongs to it too.
 */
let composing = false;
let compositionJustEnded = false;

function watchComposition(input) {
  input.addEventListener("compositionstart", () => {
    composing = true;
  });
  input.addEventListener("compositionend", () => {
    composing = false;
    compositionJustEnded = true;
    setTimeout(() => {
      compositionJustEnded = false;
    }, 0);
  });
}

function isComposing(e) {
  return composing || compositionJustEnded || e.isComposing || e.keyCode === 229;
}

export function initComposer() {
  if (els.form && els.input) {
    els.form.addEventListener("submit", (e) => {
      e.preventDefault();
      submitComposer();
    });
    watchComposition(els.input);
    els.input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.shiftKey || e.altKey || isComposing(e)) return;
      e.preventDefault();
      submitComposer();
    });
    els.input.addEventListener("input", () => {
      autosize();
      updateCount();
    });
    autosize();
  }

  for (const button of document.querySelectorAll(".suggestion[data-prompt]")) {
    button.addEventListener("click", () => {
      setComposerText(button.dataset.prompt);
      focusComposer();
    });
  }
}
