/*
 * Scrolling: the thread follows the newest text until the reader scrolls up, and
 * "Jump to latest" (#jump-latest) shows while it doesn't.
 */

import { els } from "./page.js";

let stick = true;
let lastScrollTop = 0;
let scrollFrame = 0;

function distanceFromBottom() {
  const s = els.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight;
}

/* Follow the newest text again (the reader just sent or regenerated). */
export function followLatest() {
  stick = true;
}

/* Stay where the page was scrolled to (a message opened from search). */
export function holdPosition() {
  stick = false;
}

export function scrollToBottom(smooth) {
  const s = els.scroller;
  if (smooth && typeof s.scrollTo === "function") {
    s.scrollTo({ top: s.scrollHeight, behavior: "smooth" });
  } else {
    s.scrollTop = s.scrollHeight;
  }
  lastScrollTop = s.scrollTop;
}

function updateJump() {
  if (els.jump) els.jump.hidden = stick || distanceFromBottom() < 80;
}

/* After the thread changed: once per frame, keep to the bottom if following. */
export function scheduleScroll() {
  if (scrollFrame) return;
  scrollFrame = requestAnimationFrame(() => {
    scrollFrame = 0;
    if (stick) scrollToBottom(false);
    updateJump();
  });
}

export function initScrolling() {
  if (els.scroller) {
    els.scroller.addEventListener(
      "scroll",
      () => {
        const top = els.scroller.scrollTop;
        // At the bottom: follow again. Moved up by the reader: stop following.
        if (distanceFromBottom() < 24) stick = true;
        else if (top < lastScrollTop - 1) stick = false;
        lastScrollTop = top;
        updateJump();
      },
      { passive: true }
    );
    els.scroller.addEventListener(
      "wheel",
      (e) => {
        if (e.deltaY < 0 && els.scroller.scrollTop > 0) stick = false;
      },
      { passive: true }
    );
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => {
        if (stick) scrollToBottom(false);
        updateJump();
      }).observe(els.scroller);
    }
  }

  if (els.jump) {
    els.jump.addEventListener("click", () => {
      stick = true;
      scrollToBottom(true);
      els.jump.hidden = true;
    });
  }
}
