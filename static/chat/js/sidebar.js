/*
 * The conversation list: on narrow screens it slides in behind #sidebar-toggle; the
 * conversation that just got a message moves to the top.
 */

import { els } from "./page.js";

export function moveConversationToTop(id) {
  if (!els.conversationList) return;
  const item = els.conversationList.querySelector('[data-conversation-id="' + id + '"]');
  if (item && item !== els.conversationList.firstElementChild) els.conversationList.prepend(item);
}

export function sidebarOpen() {
  return els.app && els.app.classList.contains("sidebar-open");
}

export function setSidebar(open) {
  if (!els.app) return;
  const wasOpen = sidebarOpen();
  els.app.classList.toggle("sidebar-open", open);
  if (els.sidebarToggle) els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
  if (els.backdrop) els.backdrop.hidden = !open;
  if (open) {
    const first = els.sidebar && els.sidebar.querySelector("button, a[href]");
    if (first) setTimeout(() => first.focus(), 50);
  } else if (wasOpen && els.sidebarToggle && els.sidebar.contains(document.activeElement)) {
    els.sidebarToggle.focus();
  }
}

export function initSidebar() {
  const narrow = window.matchMedia ? window.matchMedia("(max-width: 859px)") : null;
  if (els.sidebarToggle) els.sidebarToggle.addEventListener("click", () => setSidebar(!sidebarOpen()));
  if (els.sidebarClose) els.sidebarClose.addEventListener("click", () => setSidebar(false));
  if (els.backdrop) els.backdrop.addEventListener("click", () => setSidebar(false));
  if (narrow) {
    const onChange = () => {
      if (!narrow.matches) setSidebar(false);
    };
    if (narrow.addEventListener) narrow.addEventListener("change", onChange);
  }
}
