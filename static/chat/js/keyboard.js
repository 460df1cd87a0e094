/* Shortcuts: Ctrl/Cmd+K searches, "/" focuses the composer; Escape closes, stops,
   dismisses. */

import { els } from "./page.js";
import { setSidebar, sidebarOpen } from "./sidebar.js";
import { focusComposer } from "./composer.js";
import { focusSearch } from "./search.js";
import { isBusy } from "./message-store.js";
import { stopReply } from "./busy.js";
import { hideBanner } from "./notices.js";

export function isTyping(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
  );
}

export function initKeyboard() {
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "k" || e.key === "K")) {
      e.preventDefault();
      focusSearch();
      return;
    }
    if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !isTyping(e.target)) {
      e.preventDefault();
      focusComposer();
      return;
    }
    if (e.key === "Escape" && !e.defaultPrevented) {
      if (sidebarOpen()) {
        setSidebar(false);
      } else if (isBusy()) {
        e.preventDefault();
        stopReply();
      } else if (els.banner && !els.banner.hidden) {
        hideBanner();
      }
    }
  });
}
