/*
 * The conversation list: on narrow screens it slides in behind #sidebar-toggle; the
 * conversation that just got a message moves to the top.
 */

import { els } from "./page.js";
import { gettext } from "./i18n.js";

/* Under the "Today" heading (made if missing); a pinned one stays where it is. */
export function moveConversationToTop(id) {
  const list = els.conversationList;
  if (!list) return;
  const item = list.querySelector('[data-conversation-id="' + id + '"]');
  if (!item) return;
  let today = list.firstElementChild;
  if (!today || today.dataset.group !== "today") {
    today = document.createElement("li");
    today.className = "conversation-group";
    today.dataset.group = "today";
    const heading = document.createElement("h3");
    heading.className = "sidebar-group";
    heading.textContent = gettext("Today");
    today.append(heading);
    list.prepend(today);
  }
  const previous = item.previousElementSibling;
  if (previous !== today) today.after(item);
  // A heading left with no conversation under it goes.
  if (previous && previous.classList.contains("conversation-group")) {
    const next = previous.nextElementSibling;
    if (!next || next.classList.contains("conversation-group")) previous.remove();
  }
}

export function sidebarOpen() {
  return els.app && els.app.classList.contains("sidebar-open");
}

/* Open or close; an opened sidebar focuses `focus`, or its first control. */
export function setSidebar(open, focus) {
  if (!els.app) return;
  const wasOpen = sidebarOpen();
  els.app.classList.toggle("sidebar-open", open);
  if (els.sidebarToggle) els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
  if (els.backdrop) els.backdrop.hidden = !open;
  if (open) {
    const first = focus || (els.sidebar && els.sidebar.querySelector("button, a[href]"));
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
