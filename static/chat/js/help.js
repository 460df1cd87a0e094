/* The keyboard shortcuts, listed in #help-dialog: opened with "?" (outside text
   fields) or the header's help button; Escape or Close shuts it. */

import { isTyping } from "./keyboard.js";

const dialog = document.getElementById("help-dialog");

function openHelp() {
  if (dialog && !dialog.open) dialog.showModal();
}

export function initHelp() {
  if (!dialog) return;
  const button = document.getElementById("help-button");
  if (button) button.addEventListener("click", openHelp);
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "Escape") e.stopPropagation(); // closing must not stop an answer
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "?" || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    if (document.querySelector("dialog[open]")) return;
    e.preventDefault();
    openHelp();
  });
}
