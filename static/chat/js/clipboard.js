/* Copying text, and the button that says it worked. */

import { announce } from "./notices.js";
import { gettext } from "./i18n.js";

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {
      /* fall back below */
    }
  }
  const active = document.activeElement;
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.top = "0";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (err) {
    ok = false;
  }
  area.remove();
  if (active && typeof active.focus === "function") active.focus();
  return ok;
}

function flashButton(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  button.classList.add("is-done");
  clearTimeout(button._flashTimer);
  button._flashTimer = setTimeout(() => {
    button.textContent = original;
    button.classList.remove("is-done");
  }, 1600);
}

/* Copy `text`; `button` flashes "Copied" (or "Copy failed") and the result is read out. */
export async function copyWithButton(button, text) {
  const ok = await copyText(text);
  flashButton(button, ok ? gettext("Copied") : gettext("Copy failed"));
  if (ok) announce(gettext("Copied to clipboard"));
}

/* A code block's Copy button (decorate.js adds it): copy the block's code. */
export async function copyCodeBlock(button) {
  const block = button.closest(".codehilite");
  const pre = block && block.querySelector("pre");
  await copyWithButton(button, pre ? pre.textContent.replace(/\n$/, "") : "");
}
