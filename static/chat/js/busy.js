/*
 * While a reply streams: body[data-streaming], the Stop button in place of Send,
 * and stopping. Stops asked for while the socket is down go out when it is back.
 */

import { els } from "./page.js";
import { isBusy, streamingEntries } from "./message-store.js";
import { sendFrame } from "./socket.js";
import { announce } from "./notices.js";
import { gettext } from "./i18n.js";

const pendingStops = new Set(); // stops asked for while the socket was down
let stopTimer = null;
let startingConversation = false;

export function isStartingConversation() {
  return startingConversation;
}

/* Send stays disabled while the first message of a new chat opens its page. */
export function setStartingConversation(starting) {
  startingConversation = starting;
  els.send.disabled = starting;
}

export function updateBusy() {
  const busy = isBusy();
  document.body.dataset.streaming = busy ? "true" : "false";
  if (!els.send || !els.stop) return;
  const focusWasOn = document.activeElement;
  els.send.hidden = busy;
  els.send.disabled = busy || startingConversation;
  els.stop.hidden = !busy;
  if (!busy) {
    clearTimeout(stopTimer);
    resetStopButton();
    if (focusWasOn === els.stop) els.input.focus();
  } else if (focusWasOn === els.send) {
    els.stop.focus();
  }
}

export function resetStopButton() {
  if (!els.stop) return;
  els.stop.disabled = false;
  els.stop.classList.remove("is-stopping");
  els.stop.setAttribute("aria-label", gettext("Stop generating"));
}

export function stopReply() {
  const running = streamingEntries();
  if (!running.length) return;
  for (const entry of running) {
    if (!sendFrame({ type: "stop", message_id: entry.id })) pendingStops.add(entry.id);
  }
  if (els.stop) {
    els.stop.disabled = true;
    els.stop.classList.add("is-stopping");
    els.stop.setAttribute("aria-label", gettext("Stopping…"));
  }
  announce(gettext("Stopping…"));
  clearTimeout(stopTimer);
  stopTimer = setTimeout(() => {
    if (isBusy()) resetStopButton();
  }, 5000);
}

/* The socket is open again: send the stops it missed. */
export function sendPendingStops() {
  for (const id of pendingStops) sendFrame({ type: "stop", message_id: id });
  pendingStops.clear();
}

export function initStopButton() {
  if (els.stop) els.stop.addEventListener("click", stopReply);
}
