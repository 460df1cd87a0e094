/* The page: its config (json_script #chat-config), the elements the modules share, CSRF. */

import { gettext } from "./i18n.js";

const byId = (id) => document.getElementById(id);

function readConfig() {
  const configEl = byId("chat-config");
  if (!configEl) return null;
  try {
    return JSON.parse(configEl.textContent) || {};
  } catch (err) {
    return {};
  }
}

const config = readConfig();
/** False on a page without #chat-config: then the script does nothing. */
export const hasConfig = config !== null;
export const cfg = config || {};

export const els = {
  app: byId("app"),
  sidebar: byId("sidebar"),
  sidebarToggle: byId("sidebar-toggle"),
  sidebarClose: byId("sidebar-close"),
  backdrop: byId("sidebar-backdrop"),
  conversationList: byId("conversation-list"),
  scroller: byId("scroller"),
  messages: byId("messages"),
  emptyState: byId("empty-state"),
  template: byId("message-template"),
  form: byId("composer"),
  input: byId("composer-input"),
  send: byId("send-button"),
  stop: byId("stop-button"),
  charCount: byId("char-count"),
  banner: byId("chat-banner"),
  bannerText: byId("chat-banner-text"),
  bannerClose: byId("chat-banner-close"),
  live: byId("chat-status"),
  conn: byId("connection-status"),
  connText: byId("connection-text"),
  jump: byId("jump-latest"),
  titleForm: byId("title-form"),
  titleInput: byId("title-input"),
  chatTitle: byId("chat-title"),
};

export const conversationId = cfg.conversationId == null ? null : Number(cfg.conversationId);
export const maxChars = Number(cfg.maxChars) || 0;
export const siteName = document.body.dataset.siteName || gettext("Chat");

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}
