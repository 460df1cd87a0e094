/*
 * The conversation's choices: the model picker (#model-picker) and the settings
 * dialog (#settings-dialog: this chat's system prompt, the person's default for
 * new chats). Both send `configure`; the server checks them (a model outside the
 * list gets `error` `bad_model`), stores them and tells every tab with a
 * `conversation` frame, which is what this page then shows.
 */

import { cfg, els } from "./page.js";
import { sendFrame } from "./socket.js";
import { announce, showBanner } from "./notices.js";
import { gettext, interpolate } from "./i18n.js";

const picker = document.getElementById("model-picker");
const dialog = document.getElementById("settings-dialog");
const form = document.getElementById("settings-form");
const promptInput = document.getElementById("system-prompt-input");
const defaultInput = document.getElementById("default-prompt-input");
let storedModel = picker ? picker.value : cfg.model;
let storedPrompt = promptInput ? promptInput.value : "";
let storedDefault = defaultInput ? defaultInput.value : "";
let savingDefault = null;

function showModel(model) {
  storedModel = model;
  cfg.model = model; // new answers' placeholders name it
  if (picker) {
    if (![...picker.options].some((o) => o.value === model)) picker.add(new Option(model, model));
    picker.value = model;
  }
  if (els.input) els.input.placeholder = interpolate(gettext("Message %(model)s…"), { model });
}

/* A `conversation` frame: show its model and system prompt on this tab. */
export function applyConversationSettings(c) {
  if (typeof c.model === "string" && c.model) showModel(c.model);
  if (typeof c.system_prompt === "string") {
    storedPrompt = c.system_prompt;
    if (promptInput && !(dialog && dialog.open)) promptInput.value = storedPrompt;
  }
  if (savingDefault !== null) {
    storedDefault = savingDefault;
    savingDefault = null;
    announce(gettext("Settings saved"));
  }
}

/* `configure` was refused: show what is stored again (the banner says why). */
export function configureFailed() {
  if (picker) picker.value = storedModel;
  savingDefault = null;
}

function configure(changes) {
  if (sendFrame({ type: "configure", ...changes })) return true;
  showBanner(gettext("Not connected right now. Try again in a moment."));
  return false;
}

export function initSettings() {
  if (picker) {
    picker.addEventListener("change", () => {
      if (!configure({ model: picker.value })) picker.value = storedModel;
    });
  }
  if (!dialog || !form) return;
  document.getElementById("settings-button").addEventListener("click", () => {
    promptInput.value = storedPrompt;
    defaultInput.value = storedDefault;
    dialog.showModal();
    promptInput.focus();
  });
  document.getElementById("settings-cancel").addEventListener("click", () => dialog.close());
  // Escape closes the dialog; it must not also stop an answer.
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "Escape") e.stopPropagation();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    savingDefault = defaultInput.value.trim();
    if (configure({ system_prompt: promptInput.value, default_system_prompt: defaultInput.value })) {
      dialog.close();
    } else {
      savingDefault = null;
    }
  });
}
