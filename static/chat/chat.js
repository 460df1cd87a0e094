/*
 * chat.js: the one client script of the chat page. Plain ES2020, no build step.
 *
 * Hooks that browser tests can rely on
 * ------------------------------------
 * body[data-socket]           "connecting" | "open" | "closed" (conversation pages only)
 * body[data-streaming]        "true" while a reply streams in this conversation, else "false"
 * #chat-config                json_script config: conversationId, wsPath, newUrl, homeUrl,
 *                             maxChars, model
 * #messages                   the message list; each message is an
 *   article.message           [data-message-id] (absent only on an optimistic user message not
 *                             yet stored, which carries [data-client-id] instead),
 *                             [data-role] user|assistant|system,
 *                             [data-status] streaming|complete|stopped|failed|interrupted,
 *                             or "pending" for an optimistic user message
 *   .message-text             raw text, set as text only (never HTML); the visible body of user
 *                             messages and of assistant replies while they stream; kept hidden
 *                             under a finished reply as its raw Markdown (for "Copy")
 *   .message-html             the server's sanitized HTML of a finished reply
 *   .message-author           the model name on assistant messages
 *   .message-badge            "Stopped" / "Failed" / "Interrupted"
 *   .message-error            error text (.message-error-text) and a Retry button (.retry-btn)
 *   .message-stats            tokens (prompt → completion), time to first token, duration
 *   .message-time             <time datetime> with the full date in its title
 *   .code-header              added to each div.codehilite: .code-lang and button.code-copy
 *   .table-wrap               wraps each table of a reply (horizontal scroll)
 * #composer, #composer-input  the form and its textarea; #send-button, #stop-button
 * #chat-banner                dismissable error banner (#chat-banner-text, #chat-banner-close)
 * #chat-status                polite live region ("Answer complete", ...)
 * #connection-status          header indicator, [data-state] connecting|reconnecting|offline|open
 * #jump-latest                "Jump to latest" button, shown while scrolled up
 * #empty-state, .suggestion[data-prompt]   the empty state and its example prompts
 * #title-form, #title-input   rename; form[data-confirm] asks before submitting (delete)
 * #sidebar, #sidebar-toggle, #conversation-list li[data-conversation-id]
 * window.ChatCore             the pure helpers below (applyDelta, applySnapshot, ...)
 * window.ChatClient           { socket, messages, reconnect() } for tests and debugging
 */
"use strict";

(function () {
  // ---------------------------------------------------------------------------
  // Pure helpers: no DOM, no globals. Offsets count Unicode code points, as
  // Python's len() does; JavaScript's .length counts UTF-16 units instead.
  // ---------------------------------------------------------------------------
  const ChatCore = (function () {
    function codePointLength(text) {
      let n = 0;
      for (const _ of text) n++; // eslint-disable-line no-unused-vars
      return n;
    }

    // The part of `text` after its first `count` code points.
    function dropCodePoints(text, count) {
      if (count <= 0) return text;
      let seen = 0;
      let index = 0;
      for (const ch of text) {
        if (seen === count) break;
        index += ch.length;
        seen++;
      }
      return text.slice(index);
    }

    function newState(text) {
      const t = typeof text === "string" ? text : "";
      return { text: t, length: codePointLength(t) };
    }

    /*
     * Apply one reply.delta to a streaming text state {text, length}.
     * offset == length: append; offset < length: append only what is new;
     * offset > length: a gap, nothing is appended and the caller asks for a resync.
     * Returns {state, gap, appended}; `state` is a new object when text was added.
     */
    function applyDelta(state, offset, text) {
      if (typeof text !== "string" || !Number.isInteger(offset) || offset < 0) {
        return { state, gap: false, appended: "" };
      }
      if (offset > state.length) return { state, gap: true, appended: "" };
      const appended = dropCodePoints(text, state.length - offset);
      if (!appended) return { state, gap: false, appended: "" };
      return {
        state: {
          text: state.text + appended,
          length: state.length + codePointLength(appended),
        },
        gap: false,
        appended,
      };
    }

    /* A snapshot is authoritative when it is at least as long as what we have. */
    function applySnapshot(state, text) {
      if (typeof text !== "string") return { state, replaced: false };
      const length = codePointLength(text);
      if (length < state.length) return { state, replaced: false };
      return { state: { text, length }, replaced: true };
    }

    /* Reconnect delay: 0.5 s doubling to 10 s, ±20 % jitter, never above 10 s. */
    function backoffDelay(attempt, random) {
      const r = typeof random === "function" ? random() : Math.random();
      const base = Math.min(10000, 500 * Math.pow(2, Math.max(0, attempt)));
      return Math.min(10000, Math.round(base * (0.8 + 0.4 * r)));
    }

    function formatDuration(ms) {
      if (!Number.isFinite(ms)) return "";
      if (ms < 1000) return Math.round(ms) + " ms";
      if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
      const minutes = Math.floor(ms / 60000);
      const seconds = Math.round((ms % 60000) / 1000);
      return minutes + " min " + seconds + " s";
    }

    function formatCount(n) {
      return Number.isFinite(n) ? n.toLocaleString("en-US") : "?";
    }

    return {
      codePointLength,
      dropCodePoints,
      newState,
      applyDelta,
      applySnapshot,
      backoffDelay,
      formatDuration,
      formatCount,
    };
  })();

  if (typeof module !== "undefined" && module.exports) module.exports = ChatCore;
  if (typeof window !== "undefined") window.ChatCore = ChatCore;
  if (typeof document === "undefined") return;

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }

  // ---------------------------------------------------------------------------
  // The page.
  // ---------------------------------------------------------------------------
  function init() {
    const configEl = document.getElementById("chat-config");
    if (!configEl) return;
    let cfg = {};
    try {
      cfg = JSON.parse(configEl.textContent) || {};
    } catch (err) {
      cfg = {};
    }

    const PENDING_KEY = "chat.pendingSend";
    const FATAL_CLOSES = {
      4401: "You're signed out.",
      4403: "You don't have access to this conversation.",
      4404: "This conversation doesn't exist any more.",
    };
    const STATUS_LABELS = {
      stopped: "Stopped",
      failed: "Failed",
      interrupted: "Interrupted",
    };
    const ERROR_DEFAULTS = {
      failed: "Something went wrong while answering.",
      interrupted: "The answer was interrupted.",
    };
    const SILENCE_RESYNC_MS = 5000;
    const SILENCE_RECONNECT_MS = 20000;

    const byId = (id) => document.getElementById(id);
    const els = {
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

    const conversationId = cfg.conversationId == null ? null : Number(cfg.conversationId);
    const maxChars = Number(cfg.maxChars) || 0;
    const siteName = document.body.dataset.siteName || "Chat";

    /** id -> {id, el, role, status, text, length, html} */
    const messages = new Map();
    /** client_id -> {clientId, content, el, sent, fromStorage}: sends not yet stored */
    const pending = new Map();
    const lastResync = new Map(); // message id -> time of the last resync sent
    const pendingStops = new Set(); // stops asked for while the socket was down

    let ws = null;
    let socketState = "closed";
    let everOpened = false;
    let fatal = false;
    let unloading = false;
    let attempt = 0;
    let reconnectTimer = null;
    let lastHeard = Date.now();
    let stick = true;
    let lastScrollTop = 0;
    let scrollFrame = 0;
    let startingConversation = false;
    let stopTimer = null;
    const pageStart = Date.now();

    // ---- utilities --------------------------------------------------------

    function newClientId() {
      if (window.crypto && typeof crypto.randomUUID === "function") {
        try {
          return crypto.randomUUID();
        } catch (err) {
          /* insecure context: fall through */
        }
      }
      const bytes = new Uint8Array(16);
      if (window.crypto && crypto.getRandomValues) {
        crypto.getRandomValues(bytes);
      } else {
        for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
      }
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
    }

    function csrfToken() {
      const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      if (match) return decodeURIComponent(match[1]);
      const input = document.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }

    function toInt(value) {
      if (value === null || value === undefined || value === "") return null;
      const n = Number(value);
      return Number.isFinite(n) ? n : null;
    }

    let announceTimer = null;
    function announce(text) {
      if (!els.live) return;
      clearTimeout(announceTimer);
      els.live.textContent = "";
      // A fresh node after a pause, so the same words are read out again.
      announceTimer = setTimeout(() => {
        els.live.textContent = text;
      }, 60);
    }

    function showBanner(text, link) {
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

    function hideBanner() {
      if (els.banner) els.banner.hidden = true;
    }

    function formatTime(iso) {
      if (!iso) return null;
      // Django's ISO dates carry microseconds; keep milliseconds for Date.parse.
      const d = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
      if (Number.isNaN(d.getTime())) return null;
      const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const sameDay = d.toDateString() === new Date().toDateString();
      const short = sameDay
        ? time
        : d.toLocaleDateString([], { month: "short", day: "numeric" }) + ", " + time;
      const full = d.toLocaleString([], { dateStyle: "full", timeStyle: "short" });
      return { short, full, iso: d.toISOString() };
    }

    function setTime(timeEl, iso) {
      if (!timeEl) return;
      const t = formatTime(iso || timeEl.getAttribute("datetime"));
      if (!t) return;
      if (iso) timeEl.setAttribute("datetime", t.iso);
      timeEl.textContent = t.short;
      timeEl.title = t.full;
    }

    // ---- copying ----------------------------------------------------------

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

    // ---- decorating server HTML -------------------------------------------

    function decorate(root) {
      for (const block of root.querySelectorAll("div.codehilite")) {
        if (block.querySelector(":scope > .code-header")) continue;
        const language = block.dataset.language || "";
        const header = document.createElement("div");
        header.className = "code-header";
        const label = document.createElement("span");
        label.className = "code-lang";
        label.textContent = language || "code";
        const button = document.createElement("button");
        button.type = "button";
        button.className = "action-btn code-copy"; // styled like the answer's own actions
        button.textContent = "Copy";
        button.setAttribute("aria-label", language ? "Copy " + language + " code" : "Copy code");
        header.append(label, button);
        block.prepend(header);
        const pre = block.querySelector("pre");
        if (pre) pre.tabIndex = 0; // keyboard users can scroll long lines
      }
      for (const table of root.querySelectorAll("table")) {
        if (table.closest(".codehilite")) continue;
        if (table.parentElement && table.parentElement.classList.contains("table-wrap")) continue;
        const wrap = document.createElement("div");
        wrap.className = "table-wrap";
        wrap.tabIndex = 0;
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", "Table");
        table.before(wrap);
        wrap.append(table);
      }
      for (const link of root.querySelectorAll("a[href]")) {
        try {
          if (new URL(link.href, location.href).origin !== location.origin) {
            link.target = "_blank";
            link.rel = "noopener noreferrer nofollow";
          }
        } catch (err) {
          /* leave odd links alone */
        }
      }
    }

    // ---- message elements -------------------------------------------------

    function buildMessageEl(role, status) {
      // The markup lives once, in chat.html's <template id="message-template">.
      const el = els.template.content.firstElementChild.cloneNode(true);
      el.classList.add("message-" + role);
      el.dataset.role = role;
      el.dataset.status = status;
      if (role !== "assistant") {
        for (const part of el.querySelectorAll("[data-assistant-only]")) part.remove();
      }
      const author = el.querySelector(".message-author");
      if (author) author.textContent = role === "user" ? "You" : role === "system" ? "System" : cfg.model || "Assistant";
      setTime(el.querySelector(".message-time"), new Date().toISOString());
      return el;
    }

    function insertMessageEl(el, id) {
      hideEmptyState();
      if (id != null) {
        for (const other of els.messages.children) {
          const otherId = toInt(other.dataset.messageId);
          if (otherId !== null && otherId > id) {
            els.messages.insertBefore(el, other);
            return;
          }
        }
      }
      els.messages.appendChild(el);
    }

    function register(el, id, role, status, text) {
      el.dataset.messageId = String(id);
      el.id = "message-" + id;
      const entry = Object.assign({ id, el, role, status, html: null }, ChatCore.newState(text));
      messages.set(id, entry);
      return entry;
    }

    function ensureAssistant(id, info) {
      let entry = messages.get(id);
      if (entry) return entry;
      const el = buildMessageEl("assistant", "streaming");
      el.setAttribute("aria-busy", "true");
      entry = register(el, id, "assistant", "streaming", "");
      if (info && info.model) setModel(entry, info.model);
      if (info && info.created_at) setTime(el.querySelector(".message-time"), info.created_at);
      insertMessageEl(el, id);
      refreshLatest();
      updateBusy();
      scheduleScroll();
      return entry;
    }

    function part(entry, selector) {
      return entry.el.querySelector(selector);
    }

    function setModel(entry, model) {
      if (!model) return;
      entry.el.dataset.model = model;
      const author = part(entry, ".message-author");
      if (author) author.textContent = model;
    }

    function renderText(entry) {
      const textEl = part(entry, ".message-text");
      if (!textEl) return;
      textEl.textContent = entry.text;
    }

    function appendText(entry, appended) {
      const textEl = part(entry, ".message-text");
      if (!textEl) return;
      const node = textEl.firstChild;
      if (node && node === textEl.lastChild && node.nodeType === Node.TEXT_NODE) {
        node.appendData(appended); // text, never HTML
      } else {
        textEl.textContent = entry.text;
      }
    }

    function setStatus(entry, status) {
      entry.status = status;
      entry.el.dataset.status = status;
      if (status === "streaming") entry.el.setAttribute("aria-busy", "true");
      else entry.el.removeAttribute("aria-busy");
      const badge = part(entry, ".message-badge");
      if (badge) {
        const label = STATUS_LABELS[status];
        badge.textContent = label || "";
        badge.hidden = !label;
      }
      const queue = part(entry, ".message-queue");
      if (queue && status !== "streaming") queue.hidden = true;
    }

    function renderStats(entry) {
      const stats = part(entry, ".message-stats");
      if (!stats) return;
      const d = entry.el.dataset;
      const promptTokens = toInt(d.promptTokens);
      const completionTokens = toInt(d.completionTokens);
      const ttft = toInt(d.ttftMs);
      const duration = toInt(d.durationMs);
      const items = [];
      if (promptTokens !== null || completionTokens !== null) {
        items.push([
          ChatCore.formatCount(promptTokens) + " → " + ChatCore.formatCount(completionTokens) + " tokens",
          "Prompt tokens → completion tokens",
          "stat-tokens",
        ]);
      }
      if (ttft !== null) {
        items.push([ChatCore.formatDuration(ttft) + " to first token", "Time to first token", "stat-ttft"]);
      }
      if (duration !== null) items.push([ChatCore.formatDuration(duration), "Total time", "stat-duration"]);
      stats.replaceChildren(
        ...items.map(([text, title, cls]) => {
          const span = document.createElement("span");
          span.className = "stat " + cls;
          span.title = title;
          span.textContent = text;
          return span;
        })
      );
    }

    function setCopyable(entry) {
      const copy = part(entry, ".copy-btn");
      if (copy) copy.hidden = entry.length === 0;
    }

    function setError(entry, status, error) {
      const box = part(entry, ".message-error");
      if (!box) return;
      const show = status === "failed" || status === "interrupted";
      box.hidden = !show;
      if (show) {
        const textEl = box.querySelector(".message-error-text");
        if (textEl) textEl.textContent = error || ERROR_DEFAULTS[status];
        const retry = box.querySelector(".retry-btn");
        if (retry) retry.disabled = false;
      }
    }

    /* A reply has ended (reply.done, or a stored assistant message event). */
    function finishReply(entry, ev) {
      const wasStreaming = entry.status === "streaming";
      const status = ev.status || "complete";
      setStatus(entry, status);
      if (ev.model) setModel(entry, ev.model);
      const textEl = part(entry, ".message-text");
      const htmlEl = part(entry, ".message-html");
      if (typeof ev.html === "string" && ev.html.trim() && htmlEl) {
        if (entry.html !== ev.html) {
          entry.html = ev.html;
          htmlEl.innerHTML = ev.html; // the server's sanitized HTML: the one place HTML goes in
          decorate(htmlEl);
        }
        htmlEl.hidden = false;
        if (textEl) textEl.hidden = true;
      } else {
        // No HTML from the server: nothing to show (or withheld by moderation,
        // whose text must leave the page).
        if (htmlEl) htmlEl.hidden = true;
        entry.text = "";
        entry.length = 0;
        if (textEl) {
          renderText(entry);
          textEl.hidden = true;
        }
      }
      const d = entry.el.dataset;
      if (ev.usage) {
        if (ev.usage.prompt_tokens != null) d.promptTokens = ev.usage.prompt_tokens;
        if (ev.usage.completion_tokens != null) d.completionTokens = ev.usage.completion_tokens;
      }
      if (ev.ttft_ms != null) d.ttftMs = ev.ttft_ms;
      if (ev.duration_ms != null) d.durationMs = ev.duration_ms;
      renderStats(entry);
      setCopyable(entry);
      setError(entry, status, ev.error);
      refreshLatest();
      updateBusy();
      scheduleScroll();
      if (wasStreaming) {
        const words = {
          complete: "Answer complete",
          stopped: "Answer stopped",
          failed: "Answer failed: " + (ev.error || ERROR_DEFAULTS.failed),
          interrupted: "Answer interrupted",
        };
        announce(words[status] || "Answer complete");
      }
    }

    function refreshLatest() {
      let latest = null;
      for (const el of els.messages.querySelectorAll('.message[data-role="assistant"]')) latest = el;
      for (const el of els.messages.querySelectorAll(".message.is-latest")) {
        if (el !== latest) el.classList.remove("is-latest");
      }
      if (latest) latest.classList.add("is-latest");
    }

    function hideEmptyState() {
      if (els.emptyState) els.emptyState.hidden = true;
    }

    function showEmptyStateIfNone() {
      if (els.emptyState && !els.messages.querySelector(".message")) els.emptyState.hidden = false;
    }

    function streamingEntries() {
      const list = [];
      for (const entry of messages.values()) if (entry.status === "streaming") list.push(entry);
      return list;
    }

    function isBusy() {
      return streamingEntries().length > 0;
    }

    function updateBusy() {
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

    function resetStopButton() {
      if (!els.stop) return;
      els.stop.disabled = false;
      els.stop.classList.remove("is-stopping");
      els.stop.setAttribute("aria-label", "Stop generating");
    }

    // ---- scrolling --------------------------------------------------------

    function distanceFromBottom() {
      const s = els.scroller;
      return s.scrollHeight - s.scrollTop - s.clientHeight;
    }

    function scrollToBottom(smooth) {
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

    function scheduleScroll() {
      if (scrollFrame) return;
      scrollFrame = requestAnimationFrame(() => {
        scrollFrame = 0;
        if (stick) scrollToBottom(false);
        updateJump();
      });
    }

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

    // ---- the socket -------------------------------------------------------

    function isOpen() {
      return ws !== null && ws.readyState === WebSocket.OPEN;
    }

    function sendFrame(payload) {
      if (!isOpen()) return false;
      try {
        ws.send(JSON.stringify(payload));
        return true;
      } catch (err) {
        return false;
      }
    }

    function requestResync(id, minGapMs) {
      const now = Date.now();
      if (now - (lastResync.get(id) || 0) < minGapMs) return;
      if (sendFrame({ type: "resync", message_id: id })) lastResync.set(id, now);
    }

    function setSocketState(state) {
      socketState = state;
      document.body.dataset.socket = state;
      renderConnection();
    }

    function renderConnection() {
      if (!els.conn) return;
      let state = "open";
      let text = "Connected";
      if (fatal) {
        state = "offline";
        text = "Disconnected";
      } else if (socketState !== "open") {
        if (everOpened) {
          state = "reconnecting";
          text = navigator.onLine === false ? "Offline — reconnecting…" : "Reconnecting…";
        } else {
          state = "connecting";
          text = attempt >= 3 ? "Can't reach the server — retrying…" : "Connecting…";
        }
      }
      els.conn.dataset.state = state;
      if (els.connText) els.connText.textContent = text;
      // Don't flash "Connecting…" on a page that connects at once.
      const quietStart = state === "connecting" && Date.now() - pageStart < 800;
      els.conn.hidden = state === "open" || unloading || quietStart;
      if (quietStart) setTimeout(renderConnection, 850);
    }

    function wsUrl() {
      return (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + cfg.wsPath;
    }

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (fatal || unloading || !cfg.wsPath) return;
      if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;
      setSocketState("connecting");
      let sock;
      try {
        sock = new WebSocket(wsUrl());
      } catch (err) {
        scheduleReconnect();
        return;
      }
      ws = sock;
      sock.onopen = () => {
        if (ws !== sock) return;
        const wasLost = everOpened;
        everOpened = true;
        attempt = 0;
        lastHeard = Date.now();
        setSocketState("open");
        if (wasLost) announce("Reconnected");
        // The server sends snapshots of running replies itself; asking for the
        // ones this page thinks are running also recovers a reply that ended
        // between the page load and now.
        for (const entry of streamingEntries()) requestResync(entry.id, 0);
        for (const id of pendingStops) sendFrame({ type: "stop", message_id: id });
        pendingStops.clear();
        flushOutbox();
      };
      sock.onmessage = (event) => {
        if (ws !== sock) return;
        lastHeard = Date.now();
        let data;
        try {
          data = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        if (data && typeof data === "object") handleFrame(data);
      };
      sock.onclose = (event) => closed(sock, event.code);
      sock.onerror = () => {
        /* a close event follows */
      };
    }

    function closed(sock, code) {
      if (ws !== sock) return;
      ws = null;
      for (const p of pending.values()) p.sent = false; // send again, same client_id
      if (unloading) return;
      if (FATAL_CLOSES[code]) {
        fatal = true;
        setSocketState("closed");
        const link =
          code === 4401
            ? { href: (cfg.loginUrl || "/accounts/login/") + "?next=" + encodeURIComponent(location.pathname), text: "Log in" }
            : code === 4404 || code === 4403
              ? { href: cfg.homeUrl || "/", text: "Start a new chat" }
              : null;
        showBanner(FATAL_CLOSES[code], link);
        announce(FATAL_CLOSES[code]);
        return;
      }
      if (everOpened && socketState === "open") announce("Connection lost. Reconnecting…");
      setSocketState("closed");
      scheduleReconnect();
    }

    function scheduleReconnect() {
      if (fatal || unloading || reconnectTimer) return;
      const delay = ChatCore.backoffDelay(attempt);
      attempt++;
      renderConnection();
      reconnectTimer = setTimeout(connect, delay);
    }

    function reconnectNow() {
      if (fatal || !cfg.wsPath) return;
      if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
      attempt = 0;
      connect();
    }

    // A socket that went quiet while a reply streams may be half-open: drop it.
    function dropSocket() {
      const sock = ws;
      if (!sock) return;
      sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
      try {
        sock.close(4000, "silent");
      } catch (err) {
        /* already closing */
      }
      closed(sock, 4000);
    }

    // ---- frames from the server -------------------------------------------

    function handleFrame(data) {
      switch (data.type) {
        case "message":
          onMessage(data);
          break;
        case "reply.start":
          onReplyStart(data);
          break;
        case "reply.delta":
          onDelta(data);
          break;
        case "reply.snapshot":
          onSnapshot(data);
          break;
        case "reply.heartbeat":
          onHeartbeat(data);
          break;
        case "reply.queued":
          onQueued(data);
          break;
        case "reply.done":
          onDone(data);
          break;
        case "error":
          onError(data);
          break;
        case "conversation":
          onConversation(data.conversation || data);
          break;
        default:
          break;
      }
    }

    function messageId(data) {
      return toInt(data.message_id);
    }

    function onMessage(data) {
      const m = data.message;
      if (!m || toInt(m.id) === null) return;
      const id = toInt(m.id);
      const clientId = data.client_id || m.client_id || null;
      let entry = messages.get(id);
      if (!entry) {
        let mine = clientId ? pending.get(clientId) : null;
        if (!mine && !clientId && m.role === "user") {
          for (const p of pending.values()) {
            if (p.content === m.content) {
              mine = p;
              break;
            }
          }
        }
        let el;
        if (mine) {
          pending.delete(mine.clientId);
          if (mine.fromStorage) clearStoredPending();
          el = mine.el;
        } else {
          el = buildMessageEl(m.role || "user", m.status || "complete");
          insertMessageEl(el, id);
        }
        entry = register(el, id, m.role || "user", m.status || "complete", "");
      }
      if (m.created_at) setTime(part(entry, ".message-time"), m.created_at);
      if (entry.role === "assistant") {
        if (m.model) setModel(entry, m.model);
        if (m.status === "streaming") {
          applySnapshotText(entry, m.content || "");
          setStatus(entry, "streaming");
          updateBusy();
        } else {
          applySnapshotText(entry, m.content || "");
          finishReply(entry, m);
        }
      } else {
        entry.text = m.content || "";
        entry.length = ChatCore.codePointLength(entry.text);
        renderText(entry);
        setStatus(entry, m.status || "complete");
      }
      refreshLatest();
      scheduleScroll();
    }

    function onReplyStart(data) {
      const id = messageId(data);
      if (id === null) return;
      const existed = messages.has(id);
      const entry = ensureAssistant(id, data);
      if (existed && entry.status !== "streaming") return; // a late duplicate
      if (data.model) setModel(entry, data.model);
      if (data.created_at) setTime(part(entry, ".message-time"), data.created_at);
      updateBusy();
      announce("Answering…");
    }

    function onDelta(data) {
      const id = messageId(data);
      if (id === null) return;
      const entry = messages.get(id) || ensureAssistant(id, data);
      if (entry.status !== "streaming") return;
      const result = ChatCore.applyDelta(entry, data.offset, data.text);
      if (result.gap) {
        requestResync(id, 1000);
        return;
      }
      if (!result.appended) return;
      entry.text = result.state.text;
      entry.length = result.state.length;
      const queue = part(entry, ".message-queue");
      if (queue) queue.hidden = true;
      appendText(entry, result.appended);
      scheduleScroll();
    }

    function applySnapshotText(entry, text) {
      const result = ChatCore.applySnapshot(entry, text);
      if (!result.replaced) return false;
      entry.text = result.state.text;
      entry.length = result.state.length;
      const htmlShown = part(entry, ".message-html") && !part(entry, ".message-html").hidden;
      if (entry.status === "streaming" || !htmlShown) renderText(entry);
      return true;
    }

    function onSnapshot(data) {
      const id = messageId(data);
      if (id === null) return;
      const entry = messages.get(id) || ensureAssistant(id, data);
      if (applySnapshotText(entry, data.text)) scheduleScroll();
    }

    function onHeartbeat(data) {
      const id = messageId(data);
      if (id === null) return;
      const entry = messages.get(id);
      if (!entry) {
        requestResync(id, 1000);
        return;
      }
      if (entry.status === "streaming" && toInt(data.offset) !== null && toInt(data.offset) > entry.length) {
        requestResync(id, 1000);
      }
    }

    function onQueued(data) {
      const id = messageId(data);
      if (id === null) return;
      const entry = messages.get(id) || ensureAssistant(id, data);
      const queue = part(entry, ".message-queue");
      if (!queue || entry.status !== "streaming" || entry.length > 0) return;
      const position = toInt(data.position);
      queue.textContent = position ? "Waiting in line (position " + position + ")…" : "Waiting in line…";
      queue.hidden = false;
    }

    function onDone(data) {
      const id = messageId(data);
      if (id === null) return;
      const entry = messages.get(id) || ensureAssistant(id, data);
      finishReply(entry, data);
    }

    function onError(data) {
      const text = data.message || "Something went wrong.";
      const id = messageId(data);
      // An error that answers a send: take the optimistic message back and
      // hand its text back to the composer.
      let failedSend = null;
      if (data.client_id && pending.has(data.client_id)) {
        failedSend = pending.get(data.client_id);
      } else if (data.request === "send" || (id === null && !data.request)) {
        for (const p of pending.values()) {
          if (p.sent) {
            failedSend = p;
            break;
          }
        }
      }
      if (failedSend) {
        pending.delete(failedSend.clientId);
        if (failedSend.fromStorage) clearStoredPending();
        failedSend.el.remove();
        restoreToComposer(failedSend.content);
        showEmptyStateIfNone();
      }
      if (data.request === "stop" || (id !== null && data.code === "not_running")) {
        resetStopButton();
        // Already finished: fetch its end in case the reply.done was lost.
        if (id !== null) requestResync(id, 0);
        if (data.code === "not_running") return;
      }
      if (data.request === "resync" && id !== null) {
        const entry = messages.get(id);
        if (entry && entry.status === "streaming" && data.code === "not_found") {
          finishReply(entry, { status: "interrupted", error: text });
        }
        return; // the watchdog would repeat this banner every few seconds
      }
      if (data.request === "regenerate") {
        for (const b of els.messages.querySelectorAll(".retry-btn, .regenerate-btn")) b.disabled = false;
      }
      showBanner(text);
      announce(text);
    }

    function onConversation(c) {
      if (!c || toInt(c.id) === null) return;
      if (typeof c.title === "string") applyTitle(toInt(c.id), c.title);
    }

    // ---- sending ----------------------------------------------------------

    function flushOutbox() {
      if (!isOpen()) return;
      for (const p of pending.values()) {
        if (p.sent) continue;
        if (sendFrame({ type: "send", content: p.content, client_id: p.clientId })) {
          p.sent = true;
          if (p.fromStorage) clearStoredPending();
        }
      }
    }

    function queueSend(content, clientId, fromStorage) {
      const el = buildMessageEl("user", "pending");
      el.dataset.clientId = clientId;
      const textEl = el.querySelector(".message-text");
      if (textEl) textEl.textContent = content;
      insertMessageEl(el, null);
      pending.set(clientId, { clientId, content, el, sent: false, fromStorage: !!fromStorage });
      stick = true;
      scheduleScroll();
      flushOutbox();
    }

    function restoreToComposer(content) {
      const current = els.input.value;
      if (current === content) return;
      els.input.value = current.trim() ? content + "\n\n" + current : content;
      autosize();
      updateCount();
    }

    function moveConversationToTop(id) {
      if (!els.conversationList) return;
      const item = els.conversationList.querySelector('[data-conversation-id="' + id + '"]');
      if (item && item !== els.conversationList.firstElementChild) els.conversationList.prepend(item);
    }

    function submitComposer() {
      const content = els.input.value;
      if (!content.trim()) {
        els.input.focus();
        return;
      }
      const length = ChatCore.codePointLength(content);
      if (maxChars && length > maxChars) {
        showBanner(
          "Your message is too long: " + ChatCore.formatCount(length) + " characters, the limit is " +
            ChatCore.formatCount(maxChars) + "."
        );
        return;
      }
      if (isBusy()) {
        showBanner("An answer is still being written. Wait for it, or stop it with Esc.");
        return;
      }
      if (conversationId === null) {
        startConversation(content);
        return;
      }
      if (fatal) {
        showBanner("Not connected to this conversation, so the message wasn't sent.");
        return;
      }
      hideBanner();
      queueSend(content, newClientId(), false);
      els.input.value = "";
      autosize();
      updateCount();
      moveConversationToTop(conversationId);
      if (!isOpen()) announce("Message queued until the connection is back");
    }

    async function startConversation(content) {
      if (startingConversation) return;
      startingConversation = true;
      els.send.disabled = true;
      hideBanner();
      try {
        const response = await fetch(cfg.newUrl || "/c/new/", {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken() },
          credentials: "same-origin",
        });
        const url = new URL(response.url, location.href);
        if (response.ok && /\/c\/\d+\/?$/.test(url.pathname) && url.origin === location.origin) {
          storePending({ content, clientId: newClientId(), path: url.pathname, at: Date.now() });
          location.assign(url.href);
          return;
        }
        if (response.ok && response.redirected) {
          location.assign(url.href); // e.g. the login page
          return;
        }
        throw new Error("HTTP " + response.status);
      } catch (err) {
        startingConversation = false;
        els.send.disabled = false;
        showBanner("Couldn't start a new chat. Check your connection and try again.");
      }
    }

    function storePending(value) {
      try {
        sessionStorage.setItem(PENDING_KEY, JSON.stringify(value));
      } catch (err) {
        /* storage off: the new page opens with an empty composer */
      }
    }

    function clearStoredPending() {
      try {
        sessionStorage.removeItem(PENDING_KEY);
      } catch (err) {
        /* storage off */
      }
    }

    function takeStoredPending() {
      let raw = null;
      try {
        raw = sessionStorage.getItem(PENDING_KEY);
      } catch (err) {
        return;
      }
      if (!raw) return;
      let value = null;
      try {
        value = JSON.parse(raw);
      } catch (err) {
        value = null;
      }
      if (!value || typeof value !== "object") value = { content: raw };
      if (typeof value.content !== "string" || !value.content.trim()) {
        clearStoredPending();
        return;
      }
      const stale = value.at && Date.now() - value.at > 10 * 60 * 1000;
      const elsewhere = value.path && value.path !== location.pathname;
      if (stale || elsewhere) {
        // Not meant for this page: give the text back rather than send it here.
        clearStoredPending();
        if (!els.input.value) restoreToComposer(value.content);
        return;
      }
      queueSend(value.content, typeof value.clientId === "string" ? value.clientId : newClientId(), true);
    }

    function stopReply() {
      const running = streamingEntries();
      if (!running.length) return;
      for (const entry of running) {
        if (!sendFrame({ type: "stop", message_id: entry.id })) pendingStops.add(entry.id);
      }
      if (els.stop) {
        els.stop.disabled = true;
        els.stop.classList.add("is-stopping");
        els.stop.setAttribute("aria-label", "Stopping…");
      }
      announce("Stopping…");
      clearTimeout(stopTimer);
      stopTimer = setTimeout(() => {
        if (isBusy()) resetStopButton();
      }, 5000);
    }

    function regenerate(id, button) {
      if (isBusy()) {
        showBanner("An answer is still being written. Wait for it, or stop it with Esc.");
        return;
      }
      if (!sendFrame({ type: "regenerate", message_id: id })) {
        showBanner("Not connected right now. Try again in a moment.");
        return;
      }
      hideBanner();
      stick = true;
      if (button) {
        button.disabled = true;
        setTimeout(() => {
          button.disabled = false;
        }, 5000);
      }
    }

    // ---- composer ---------------------------------------------------------

    function autosize() {
      const area = els.input;
      area.style.height = "auto";
      area.style.height = area.scrollHeight + 2 + "px";
    }

    function updateCount() {
      if (!els.charCount || !maxChars) return;
      const n = ChatCore.codePointLength(els.input.value);
      const show = n >= maxChars * 0.8;
      els.charCount.hidden = !show;
      if (show) {
        els.charCount.textContent = ChatCore.formatCount(n) + " / " + ChatCore.formatCount(maxChars);
        els.charCount.classList.toggle("is-over", n > maxChars);
      }
    }

    function focusComposer() {
      if (!els.input) return;
      els.input.focus();
      const end = els.input.value.length;
      els.input.setSelectionRange(end, end);
    }

    if (els.form && els.input) {
      els.form.addEventListener("submit", (e) => {
        e.preventDefault();
        submitComposer();
      });
      els.input.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" || e.shiftKey || e.altKey || e.isComposing || e.keyCode === 229) return;
        e.preventDefault();
        submitComposer();
      });
      els.input.addEventListener("input", () => {
        autosize();
        updateCount();
      });
      autosize();
    }

    if (els.stop) els.stop.addEventListener("click", stopReply);
    if (els.bannerClose) els.bannerClose.addEventListener("click", hideBanner);

    for (const button of document.querySelectorAll(".suggestion[data-prompt]")) {
      button.addEventListener("click", () => {
        els.input.value = button.dataset.prompt;
        autosize();
        updateCount();
        focusComposer();
      });
    }

    // Buttons inside messages: copy code, copy a reply, retry, regenerate.
    els.messages.addEventListener("click", async (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (!target) return;
      const codeCopy = target.closest(".code-copy");
      if (codeCopy) {
        const block = codeCopy.closest(".codehilite");
        const pre = block && block.querySelector("pre");
        const ok = await copyText(pre ? pre.textContent.replace(/\n$/, "") : "");
        flashButton(codeCopy, ok ? "Copied" : "Copy failed");
        if (ok) announce("Copied to clipboard");
        return;
      }
      const action = target.closest("[data-action]");
      if (!action) return;
      const el = action.closest(".message");
      const id = el ? toInt(el.dataset.messageId) : null;
      const entry = id === null ? null : messages.get(id);
      if (action.dataset.action === "copy") {
        const text = entry ? entry.text : (el.querySelector(".message-text") || {}).textContent || "";
        const ok = await copyText(text);
        flashButton(action, ok ? "Copied" : "Copy failed");
        if (ok) announce("Copied to clipboard");
      } else if ((action.dataset.action === "retry" || action.dataset.action === "regenerate") && id !== null) {
        regenerate(id, action);
      }
    });

    // ---- title, delete, sidebar -------------------------------------------

    function applyTitle(id, title) {
      const shown = title || "New chat";
      if (els.conversationList) {
        const item = els.conversationList.querySelector('[data-conversation-id="' + id + '"]');
        const label = item && item.querySelector(".conversation-title");
        if (label) label.textContent = shown;
      }
      if (id === conversationId) {
        savedTitle = title;
        if (els.chatTitle) els.chatTitle.textContent = shown;
        if (els.titleInput && document.activeElement !== els.titleInput) {
          els.titleInput.value = title;
          sizeTitle();
        }
        document.title = shown + " · " + siteName;
      }
    }

    let savedTitle = els.titleInput ? els.titleInput.value : "";
    const fieldSizing = window.CSS && CSS.supports && CSS.supports("field-sizing", "content");
    function sizeTitle() {
      if (els.titleInput && !fieldSizing) {
        els.titleInput.size = Math.max(8, Math.min(60, (els.titleInput.value || els.titleInput.placeholder).length + 1));
      }
    }
    sizeTitle();
    async function saveTitle() {
      if (!els.titleForm || !els.titleInput) return;
      const title = els.titleInput.value.trim();
      if (!title) {
        els.titleInput.value = savedTitle; // a title can't be empty
        return;
      }
      if (title === savedTitle) return;
      const previous = savedTitle;
      savedTitle = title;
      const body = new FormData(els.titleForm);
      body.set("title", title);
      try {
        const response = await fetch(els.titleForm.action, {
          method: "POST",
          body,
          headers: { "X-CSRFToken": csrfToken() },
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error("HTTP " + response.status);
        applyTitle(conversationId, title);
        announce("Conversation renamed");
      } catch (err) {
        savedTitle = previous;
        els.titleInput.value = previous;
        showBanner("Couldn't rename the conversation. Try again.");
      }
    }

    if (els.titleForm && els.titleInput) {
      els.titleForm.addEventListener("submit", (e) => {
        e.preventDefault();
        els.titleInput.blur(); // blur saves
      });
      els.titleInput.addEventListener("blur", saveTitle);
      els.titleInput.addEventListener("input", sizeTitle);
      els.titleInput.addEventListener("keydown", (e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          e.stopPropagation();
          els.titleInput.value = savedTitle;
          els.titleInput.blur();
        }
      });
    }

    document.addEventListener("submit", (e) => {
      const form = e.target;
      if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
        e.preventDefault();
      }
    });

    const narrow = window.matchMedia ? window.matchMedia("(max-width: 859px)") : null;

    function sidebarOpen() {
      return els.app && els.app.classList.contains("sidebar-open");
    }

    function setSidebar(open) {
      if (!els.app) return;
      const wasOpen = sidebarOpen();
      els.app.classList.toggle("sidebar-open", open);
      if (els.sidebarToggle) els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (els.backdrop) els.backdrop.hidden = !open;
      if (open) {
        const first = els.sidebar && els.sidebar.querySelector("button, a[href]");
        if (first) setTimeout(() => first.focus(), 50);
      } else if (wasOpen && els.sidebarToggle && els.sidebar.contains(document.activeElement)) {
        els.sidebarToggle.focus();
      }
    }

    if (els.sidebarToggle) els.sidebarToggle.addEventListener("click", () => setSidebar(!sidebarOpen()));
    if (els.sidebarClose) els.sidebarClose.addEventListener("click", () => setSidebar(false));
    if (els.backdrop) els.backdrop.addEventListener("click", () => setSidebar(false));
    if (narrow) {
      const onChange = () => {
        if (!narrow.matches) setSidebar(false);
      };
      if (narrow.addEventListener) narrow.addEventListener("change", onChange);
    }

    // ---- keyboard ---------------------------------------------------------

    function isTyping(target) {
      return (
        target instanceof HTMLElement &&
        (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
      );
    }

    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "k" || e.key === "K")) {
        e.preventDefault();
        if (sidebarOpen()) setSidebar(false);
        focusComposer();
        return;
      }
      if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !isTyping(e.target)) {
        e.preventDefault();
        focusComposer();
        return;
      }
      if (e.key === "Escape" && !e.defaultPrevented) {
        if (sidebarOpen()) {
          setSidebar(false);
        } else if (isBusy()) {
          e.preventDefault();
          stopReply();
        } else if (els.banner && !els.banner.hidden) {
          hideBanner();
        }
      }
    });

    // ---- life cycle -------------------------------------------------------

    // Messages the server rendered into the page.
    for (const el of els.messages.querySelectorAll(".message[data-message-id]")) {
      const id = toInt(el.dataset.messageId);
      if (id === null) continue;
      const textEl = el.querySelector(".message-text");
      const entry = register(el, id, el.dataset.role, el.dataset.status, textEl ? textEl.textContent : "");
      const htmlEl = el.querySelector(".message-html");
      if (htmlEl && !htmlEl.hidden) entry.html = htmlEl.innerHTML;
      renderStats(entry);
      setCopyable(entry);
      setTime(el.querySelector(".message-time"));
    }
    decorate(els.messages);
    refreshLatest();
    updateBusy();
    updateCount();
    scrollToBottom(false);
    if (window.location.hash === "" && els.input && !("ontouchstart" in window)) focusComposer();

    if (cfg.wsPath) {
      takeStoredPending();
      connect();

      setInterval(() => {
        if (!isOpen()) return;
        const running = streamingEntries();
        if (!running.length) return;
        const silent = Date.now() - lastHeard;
        if (silent >= SILENCE_RECONNECT_MS) {
          dropSocket();
          return;
        }
        if (silent >= SILENCE_RESYNC_MS) {
          for (const entry of running) requestResync(entry.id, SILENCE_RESYNC_MS);
        }
      }, 1000);

      window.addEventListener("online", reconnectNow);
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") reconnectNow();
      });
      window.addEventListener("pagehide", () => {
        unloading = true;
        clearTimeout(reconnectTimer);
        reconnectTimer = null;
      });
      window.addEventListener("pageshow", (e) => {
        if (!e.persisted) return;
        unloading = false;
        reconnectNow();
      });
    }

    window.ChatClient = {
      get socket() {
        return ws;
      },
      messages,
      pending,
      reconnect: reconnectNow,
    };
  }
})();
