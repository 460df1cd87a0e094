/*
 * main.js: the chat page's entry module; it wires the others. Plain ES modules, no
 * build step: chat.html loads this file with <script type="module">.
 *
 * Hooks that browser tests can rely on
 * ------------------------------------
 * body[data-socket]           "connecting" | "open" | "closed" (conversation pages only)
 * body[data-streaming]        "true" while a reply streams in this conversation, else "false"
 * #chat-config                json_script config: conversationId, wsPath, newUrl, homeUrl,
 *                             maxChars, model, usage {used, quota}
 * #usage-today                the person's tokens today against their quota,
 *                             [data-state] ok|near|over
 * #messages                   the message list; each message is an
 *   article.message           [data-message-id] (absent only on an optimistic user message not
 *                             yet stored, which carries [data-client-id] instead),
 *                             [data-role] user|assistant|system,
 *                             [data-status] streaming|complete|stopped|failed|interrupted,
 *                             or "pending" for an optimistic user message
 *   .message-html             the server's sanitized HTML of a finished reply; while a reply
 *                             streams, its settled blocks (reply.blocks), only ever appended to
 *   .message-text             raw text, set as text only (never HTML); the visible body of user
 *                             messages and, while a reply streams, its text after the settled
 *                             blocks (one text node); kept hidden under a finished reply as its
 *                             raw Markdown
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
 *   article.message           also [data-parent-id] and [data-siblings] (ids, itself included);
 *   .branch-nav               "‹ 2 / 3 ›" (.branch-count, [data-action=branch-prev|branch-next])
 *   .edit-btn, .message-editor  edit a user message in place (.edit-input, Enter saves)
 * #model-picker               the model of this conversation (<select>)
 * #settings-button, #settings-dialog   system prompts (#system-prompt-input, #default-prompt-input)
 * #help-button, #help-dialog  keyboard shortcuts ("?")
 * #sidebar, #sidebar-toggle, #conversation-list li[data-conversation-id]
 *   li.conversation-group     a date heading ([data-group] today|yesterday|week|month|YYYY-MM)
 *   #conversation-more        the list's end while more pages exist (#conversation-more-button)
 * #pinned-list                pinned conversations; .conversation-pin / -archive / -delete forms
 * #search-form, #search-input, #search-results   search (Ctrl/Cmd+K); a.search-link results
 *                             with .search-snippet (<mark> around matches)
 * article.message.is-found    the message a search result opened (?m=<id>), scrolled to
 * offsets.js                  the offset rule (applyDelta, applySnapshot, ...), importable
 * window.ChatClient           { socket, messages, pending, reconnect() } for tests and debugging
 */

import { cfg, els, hasConfig } from "./page.js";
import { initBanner } from "./notices.js";
import { initScrolling, scrollToBottom } from "./scroll.js";
import { messages, streamingEntries } from "./message-store.js";
import { adoptServerMessages } from "./message-view.js";
import { initStopButton, sendPendingStops, updateBusy } from "./busy.js";
import { currentSocket, reconnectNow, startSocket } from "./socket.js";
import { handleFrame } from "./frames.js";
import { flushOutbox, markUnsent, pending, takeStoredPending } from "./outbox.js";
import { focusComposer, initComposer, restoreToComposer, updateCount } from "./composer.js";
import { initMessageActions } from "./message-actions.js";
import { initTitle } from "./title.js";
import { initConfirm } from "./confirm.js";
import { initSidebar } from "./sidebar.js";
import { initKeyboard } from "./keyboard.js";
import { initUsage } from "./usage.js";
import { initBranches, onSocketOpen } from "./branches.js";
import { initEdit } from "./edit.js";
import { initSettings } from "./settings.js";
import { initHelp } from "./help.js";
import { initSearch } from "./search.js";
import { initConversationPages } from "./conversation-pages.js";
import { showFoundMessage } from "./found.js";

function start() {
  initScrolling();
  initComposer();
  initStopButton();
  initBanner();
  initMessageActions();
  initTitle();
  initConfirm();
  initSidebar();
  initKeyboard();
  initUsage();
  initBranches();
  initEdit();
  initSettings();
  initHelp();
  initSearch();
  initConversationPages();

  adoptServerMessages();
  updateBusy();
  updateCount();
  if (!showFoundMessage()) scrollToBottom(false);
  if (window.location.hash === "" && els.input && !("ontouchstart" in window)) focusComposer();

  if (cfg.wsPath) {
    const notForThisPage = takeStoredPending();
    if (notForThisPage !== null && !els.input.value) restoreToComposer(notForThisPage);
    startSocket({
      onFrame: handleFrame,
      onOpen() {
        sendPendingStops();
        onSocketOpen();
        flushOutbox();
      },
      onClose: markUnsent,
      streamingIds: () => streamingEntries().map((entry) => entry.id),
    });
  }

  window.ChatClient = {
    get socket() {
      return currentSocket();
    },
    messages,
    pending,
    reconnect: reconnectNow,
  };
}

if (hasConfig) start();
