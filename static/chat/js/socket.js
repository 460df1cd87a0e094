/*
 * The conversation's websocket: connect, reconnect with backoff, the connection
 * indicator (#connection-status, body[data-socket]), closes that end for good, the
 * silence watchdog while a reply streams, and resync requests.
 *
 * What the frames mean is not this module's business: startSocket() is handed the
 * callbacks for that.
 *
 * When no websocket opens (FALLBACK_AFTER failed attempts in a row, never open; a
 * proxy that refuses the upgrade) or cfg.transport is "sse", the page switches to
 * Server-Sent Events plus POST (sse-transport.js) for good, behind the same
 * functions; body[data-transport] says which ("websocket" or "sse").
 */

import { cfg, els } from "./page.js";
import { announce, showBanner } from "./notices.js";
import { gettext } from "./i18n.js";
import { sseOpen, sseReconnect, sseSendFrame, startSse } from "./sse-transport.js";

const FATAL_CLOSES = {
  4401: gettext("You're signed out."),
  4403: gettext("You don't have access to this conversation."),
  4404: gettext("This conversation doesn't exist any more."),
};
const SILENCE_RESYNC_MS = 5000;
const SILENCE_RECONNECT_MS = 20000;
const FALLBACK_AFTER = 3;

let ws = null;
let socketState = "closed";
let everOpened = false;
let fatal = false;
let unloading = false;
let useSse = false;
let attempt = 0;
let reconnectTimer = null;
let lastHeard = Date.now();
const lastResync = new Map(); // message id -> time of the last resync sent
const pageStart = Date.now();

const noop = () => {};
let hooks = { onFrame: noop, onOpen: noop, onClose: noop, streamingIds: () => [] };

/* Reconnect delay: 0.5 s doubling to 10 s, ±20 % jitter, never above 10 s. */
function backoffDelay(attempt, random) {
  const r = typeof random === "function" ? random() : Math.random();
  const base = Math.min(10000, 500 * Math.pow(2, Math.max(0, attempt)));
  return Math.min(10000, Math.round(base * (0.8 + 0.4 * r)));
}

export function currentSocket() {
  return ws;
}

export function isOpen() {
  if (useSse) return sseOpen();
  return ws !== null && ws.readyState === WebSocket.OPEN;
}

/* Closed for good (signed out, no access, deleted): nothing will be sent. */
export function isFatal() {
  return fatal;
}

export function sendFrame(payload) {
  if (useSse) return sseSendFrame(payload);
  if (!isOpen()) return false;
  try {
    ws.send(JSON.stringify(payload));
    return true;
  } catch (err) {
    return false;
  }
}

/* Ask for a snapshot of message `id`, at most once per `minGapMs`. */
export function requestResync(id, minGapMs) {
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
  let text = gettext("Connected");
  if (fatal) {
    state = "offline";
    text = gettext("Disconnected");
  } else if (socketState !== "open") {
    if (everOpened) {
      state = "reconnecting";
      text = navigator.onLine === false ? gettext("Offline — reconnecting…") : gettext("Reconnecting…");
    } else {
      state = "connecting";
      text = attempt >= 3 ? gettext("Can't reach the server — retrying…") : gettext("Connecting…");
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
    if (wasLost) announce(gettext("Reconnected"));
    // The server sends snapshots of running replies itself; asking for the
    // ones this page thinks are running also recovers a reply that ended
    // between the page load and now.
    for (const id of hooks.streamingIds()) requestResync(id, 0);
    hooks.onOpen();
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
    if (data && typeof data === "object") hooks.onFrame(data);
  };
  sock.onclose = (event) => closed(sock, event.code);
  sock.onerror = () => {
    /* a close event follows */
  };
}

function closed(sock, code) {
  if (ws !== sock) return;
  ws = null;
  hooks.onClose();
  if (unloading) return;
  if (FATAL_CLOSES[code]) {
    endForGood(code);
    return;
  }
  if (everOpened && socketState === "open") announce(gettext("Connection lost. Reconnecting…"));
  setSocketState("closed");
  if (!everOpened && attempt + 1 >= FALLBACK_AFTER && cfg.transport === "auto" && cfg.apiPath) {
    switchToSse();
    return;
  }
  scheduleReconnect();
}

/* Signed out, no access, deleted: nothing more will be sent or received. */
function endForGood(code) {
  fatal = true;
  setSocketState("closed");
  const link =
    code === 4401
      ? { href: (cfg.loginUrl || "/accounts/login/") + "?next=" + encodeURIComponent(location.pathname), text: gettext("Log in") }
      : code === 4404 || code === 4403
        ? { href: cfg.homeUrl || "/", text: gettext("Start a new chat") }
        : null;
  showBanner(FATAL_CLOSES[code], link);
  announce(FATAL_CLOSES[code]);
}

function switchToSse() {
  useSse = true;
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  document.body.dataset.transport = "sse";
  startSse({
    onFrame: (frame) => {
      lastHeard = Date.now();
      hooks.onFrame(frame);
    },
    onOpen() {
      const wasLost = everOpened;
      everOpened = true;
      lastHeard = Date.now();
      if (wasLost) announce(gettext("Reconnected"));
      hooks.onOpen();
    },
    onClose: () => hooks.onClose(),
    onState: setSocketState,
    onFatal: endForGood,
  });
}

function scheduleReconnect() {
  if (fatal || unloading || reconnectTimer) return;
  const delay = backoffDelay(attempt);
  attempt++;
  renderConnection();
  reconnectTimer = setTimeout(connect, delay);
}

export function reconnectNow() {
  if (fatal || !cfg.wsPath) return;
  if (useSse) {
    sseReconnect();
    return;
  }
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

/* The server beats every few seconds while a reply runs; silence means trouble. */
function watchSilence() {
  if (!isOpen()) return;
  const running = hooks.streamingIds();
  if (!running.length) return;
  const silent = Date.now() - lastHeard;
  if (silent >= SILENCE_RECONNECT_MS) {
    dropSocket();
    return;
  }
  if (silent >= SILENCE_RESYNC_MS) {
    for (const id of running) requestResync(id, SILENCE_RESYNC_MS);
  }
}

/*
 * Connect and stay connected. onFrame(data): each JSON frame; onOpen(): after each
 * open; onClose(): the socket is gone (before any reconnect); streamingIds(): ids of
 * the replies this page thinks are running.
 */
export function startSocket({ onFrame, onOpen, onClose, streamingIds }) {
  hooks = { onFrame, onOpen, onClose, streamingIds };
  document.body.dataset.transport = "websocket";
  if (cfg.transport === "sse" && cfg.apiPath) switchToSse();
  else connect();
  setInterval(watchSilence, 1000);

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
