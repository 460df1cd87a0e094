/* Buttons inside messages: copy a code block, copy a reply, retry, regenerate. */

import { els } from "./page.js";
import { isBusy, messages } from "./message-store.js";
import { sendFrame } from "./socket.js";
import { copyCodeBlock, copyWithButton } from "./clipboard.js";
import { hideBanner, showBanner } from "./notices.js";
import { followLatest } from "./scroll.js";
import { toInt } from "./format.js";
import { gettext } from "./i18n.js";

function regenerate(id, button) {
  if (isBusy()) {
    showBanner(gettext("An answer is still being written. Wait for it, or stop it with Esc."));
    return;
  }
  if (!sendFrame({ type: "regenerate", message_id: id })) {
    showBanner(gettext("Not connected right now. Try again in a moment."));
    return;
  }
  hideBanner();
  followLatest();
  if (button) {
    button.disabled = true;
    setTimeout(() => {
      button.disabled = false;
    }, 5000);
  }
}

export function initMessageActions() {
  els.messages.addEventListener("click", async (e) => {
    const target = e.target instanceof Element ? e.target : null;
    if (!target) return;
    const codeCopy = target.closest(".code-copy");
    if (codeCopy) {
      await copyCodeBlock(codeCopy);
      return;
    }
    const action = target.closest("[data-action]");
    if (!action) return;
    const el = action.closest(".message");
    const id = el ? toInt(el.dataset.messageId) : null;
    const entry = id === null ? null : messages.get(id);
    if (action.dataset.action === "copy") {
      const text = entry ? entry.text : (el.querySelector(".message-text") || {}).textContent || "";
      await copyWithButton(action, text);
    } else if ((action.dataset.action === "retry" || action.dataset.action === "regenerate") && id !== null) {
      regenerate(id, action);
    }
  });
}
