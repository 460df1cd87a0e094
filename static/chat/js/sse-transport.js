/*
 * Server-Sent Events plus POST: the page's transport when a websocket cannot open
 * (a proxy refuses the upgrade) or CHAT_TRANSPORT=sse. socket.js switches to it and
 * keeps offering the rest of the page the same functions.
 *
 * Frames arrive on an EventSource of /api/conversations/<id>/events, each event
 * named by its frame's type with the frame's JSON as data, into the same onFrame.
 * The browser reconnects it by itself with Last-Event-ID, and the server sends
 * only the text missed. Requests go out as POSTs: send → messages/, stop → stop,
 * the others → frames/ (the socket's JSON as is); resync opens a new EventSource
 * that asks for that answer's snapshot. A refused POST comes back as the `error`
 * frame the socket would have sent.
 */

import { cfg, csrfToken } from "./page.js";
import { gettext } from "./i18n.js";

const FRAME_TYPES = [
  "message",
  "conversation",
  "conversation.path",
  "reply.start",
  "reply.queued",
  "reply.delta",
  "reply.blocks",
  "reply.snapshot",
  "reply.heartbeat",
  "usage",
  "reply.done",
  "error",
];
const ENDPOINTS = { send: "messages/", stop: "stop" };

let source = null;
let open = false;
let hooks = null;
let retryTimer = null;
let failures = 0;

export function sseOpen() {
  return open;
}

/*
 * Start following. hooks: onFrame(frame), onOpen(), onClose(), onState(state),
 * onFatal(code) with the websocket's close code (4401 signed out, 4404 gone).
 */
export function startSse(given) {
  hooks = given;
  follow([]);
}

/* (Re)open the event stream; `resync` ids get a fresh snapshot (and done). */
function follow(resync) {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  const query = resync.length ? "?resync=" + resync.join(",") : "";
  const es = new EventSource(cfg.apiPath + "events" + query);
  source = es;
  hooks.onState("connecting");
  es.onopen = () => {
    if (source !== es) return;
    open = true;
    failures = 0;
    hooks.onState("open");
    hooks.onOpen();
  };
  es.onerror = () => {
    if (source !== es) return;
    if (open) {
      open = false;
      hooks.onState("closed");
      hooks.onClose();
    }
    // CONNECTING: the browser retries by itself, with Last-Event-ID.
    if (es.readyState === EventSource.CLOSED) whyClosed(es);
  };
  for (const type of FRAME_TYPES) {
    es.addEventListener(type, (event) => {
      if (source !== es) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (frame && typeof frame === "object") hooks.onFrame(frame);
    });
  }
}

/* An EventSource closes for good on an error status: 401 and 404 end the page's
 * conversation as the socket's closes do; anything else retries with backoff. */
async function whyClosed(es) {
  source = null;
  es.close();
  let status = 0;
  try {
    const probe = new AbortController();
    const response = await fetch(cfg.apiPath + "events", { signal: probe.signal });
    status = response.status;
    probe.abort();
  } catch (err) {
    /* offline: retry below */
  }
  if (status === 401 || status === 404) {
    hooks.onFatal(status === 401 ? 4401 : 4404);
    return;
  }
  const delay = Math.min(10000, 500 * Math.pow(2, failures++));
  retryTimer = setTimeout(() => follow([]), delay);
}

export function sseReconnect() {
  if (!open && !retryTimer) follow([]);
}

/* Send a request the page would put on the socket; true when it went out. */
export function sseSendFrame(payload) {
  if (!open) return false;
  if (payload.type === "resync") {
    follow([payload.message_id]);
    return true;
  }
  const path = ENDPOINTS[payload.type] || "frames/";
  const body = payload.type === "send" ? { ...payload, stream: false } : payload;
  post(path, body, payload);
  return true;
}

async function post(path, body, request) {
  let response;
  try {
    response = await fetch(cfg.apiPath + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
  } catch (err) {
    // The network is gone: as a lost socket, so the outbox sends again.
    if (open) {
      open = false;
      hooks.onState("closed");
      hooks.onClose();
    }
    follow([]);
    return;
  }
  let answer = {};
  try {
    answer = await response.json();
  } catch (err) {
    /* an empty or non-JSON body */
  }
  if (response.ok) {
    // The stored message, as the socket tells the tab that sent it.
    if (answer.message) hooks.onFrame({ type: "message", message: answer.message, client_id: answer.client_id });
    return;
  }
  const error = answer.error || {};
  const retryAfter = Number(response.headers.get("Retry-After"));
  const frame = {
    type: "error",
    code: error.code || "server_error",
    message: error.message || gettext("That failed on our side. Try again."),
    request: request.type,
  };
  if (request.client_id) frame.client_id = request.client_id;
  if (request.message_id !== undefined) frame.message_id = request.message_id;
  if (retryAfter > 0) frame.retry_after_s = retryAfter;
  hooks.onFrame(frame);
}
