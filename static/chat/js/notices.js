/* Telling the reader: the polite live region (#chat-status) and the error banner. */

import { els } from "./page.js";

let announceTimer = null;

export function announce(text) {
  if (!els.live) return;
  clearTimeout(announceTimer);
  els.live.textContent = "";
  // A fresh node after a pause, so the same words are read out again.
  announceTimer = setTimeout(() => {
    els.live.textContent = text;
  }, 60);
}

export function showBanner(text, link) {
  if (!els.banner) return;
  els.bannerText.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    els.bannerText.append(" ", a);
  }
  els.banner.hidden = false;
}

export function hideBanner() {
  if (els.banner) els.banner.hidden = true;
}

export function initBanner() {
  if (els.bannerClose) els.bannerClose.addEventListener("click", hideBanner);
}
