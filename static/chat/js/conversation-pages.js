/*
 * The sidebar's list arrives a page at a time: when its end (#conversation-more)
 * scrolls into view, or its "Show more" button is pressed, the next page's list
 * items are fetched (an HTML fragment rendered by the server) and appended, the
 * date heading they continue under not repeated.
 */

import { els } from "./page.js";
import { gettext } from "./i18n.js";

let loading = false;
let observer = null;

function lastGroup(list) {
  const groups = list.querySelectorAll(".conversation-group");
  return groups.length ? groups[groups.length - 1].dataset.group : null;
}

async function loadMore(sentinel) {
  if (loading || !sentinel.isConnected) return;
  loading = true;
  const button = sentinel.querySelector("button");
  if (button) button.disabled = true;
  try {
    const response = await fetch(sentinel.dataset.url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const template = document.createElement("template");
    template.innerHTML = await response.text(); // the server's escaped fragment
    const first = template.content.querySelector(".conversation-group");
    if (first && first.dataset.group === lastGroup(els.conversationList)) first.remove();
    sentinel.remove();
    els.conversationList.append(template.content);
    watch();
  } catch (err) {
    if (button) {
      button.disabled = false;
      button.textContent = gettext("Could not load more. Try again");
    }
  } finally {
    loading = false;
  }
}

function watch() {
  const sentinel = document.getElementById("conversation-more");
  if (!sentinel) return;
  const button = sentinel.querySelector("button");
  if (button) button.addEventListener("click", () => loadMore(sentinel));
  if (observer) observer.observe(sentinel);
}

export function initConversationPages() {
  if (!els.conversationList) return;
  if (typeof IntersectionObserver === "function") {
    observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          observer.unobserve(entry.target);
          loadMore(entry.target);
        }
      },
      { root: document.getElementById("conversation-nav"), rootMargin: "200px" }
    );
  }
  watch();
}
