/*
 * Search in the sidebar (#search-input, Ctrl/Cmd+K): as the person types, the
 * server's results (an HTML fragment: escaped snippets, matches in <mark>) fill
 * #search-results. Enter opens the first result; the arrow keys move through them;
 * Escape clears. Each result links to its conversation at the message (?m=).
 */

import { gettext } from "./i18n.js";
import { setSidebar, sidebarOpen } from "./sidebar.js";

const form = document.getElementById("search-form");
const input = document.getElementById("search-input");
const results = document.getElementById("search-results");
const DEBOUNCE_MS = 200;

let timer = 0;
let inFlight = null;

function links() {
  return results ? Array.from(results.querySelectorAll("a.search-link")) : [];
}

function clearResults() {
  if (inFlight) inFlight.abort();
  results.hidden = true;
  results.replaceChildren();
}

function showMessage(text) {
  const p = document.createElement("p");
  p.className = "search-empty";
  p.setAttribute("role", "alert");
  p.textContent = text;
  results.replaceChildren(p);
  results.hidden = false;
}

async function runSearch() {
  const query = input.value.trim();
  if (!query) {
    clearResults();
    return;
  }
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  const url = form.action + "?" + new URLSearchParams({ q: query }).toString();
  try {
    const response = await fetch(url, {
      headers: { "X-Fragment": "1" },
      credentials: "same-origin",
      signal: controller.signal,
    });
    const html = await response.text();
    if (controller !== inFlight) return;
    // The server's fragment: every text in it is escaped there.
    results.innerHTML = html;
    results.hidden = false;
  } catch (err) {
    if (err.name !== "AbortError") showMessage(gettext("Search failed. Check your connection and try again."));
  } finally {
    if (controller === inFlight) inFlight = null;
  }
}

/* Ctrl/Cmd+K: the search box, opening the sidebar first on narrow screens. */
export function focusSearch() {
  if (!input) return;
  if (!sidebarOpen() && window.matchMedia && window.matchMedia("(max-width: 859px)").matches) {
    setSidebar(true, input);
  }
  input.focus();
  input.select();
}

function moveFocus(step) {
  const all = links();
  if (!all.length) return;
  const at = all.indexOf(document.activeElement);
  const next = at + step;
  if (next < 0) input.focus();
  else all[Math.min(next, all.length - 1)].focus();
}

export function initSearch() {
  if (!form || !input || !results) return;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(runSearch, DEBOUNCE_MS);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const first = links()[0];
    if (first) window.location.assign(first.href);
    else runSearch();
  });
  const onKey = (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      moveFocus(e.key === "ArrowDown" ? 1 : -1);
    } else if (e.key === "Escape" && (input.value || !results.hidden)) {
      e.preventDefault(); // handled: the page's Escape (stop an answer) stays out
      input.value = "";
      clearResults();
      input.focus();
    }
  };
  input.addEventListener("keydown", onKey);
  results.addEventListener("keydown", onKey);
}
