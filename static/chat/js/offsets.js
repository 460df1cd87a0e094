/*
 * The offset rule: how a streaming reply's deltas and snapshots apply to the text
 * the page holds. The browser's twin of chat/offsets.py: keep them in step.
 *
 * Offsets count Unicode code points, as Python's len() does; JavaScript's .length
 * counts UTF-16 units instead. Pure: no DOM, no globals.
 */

export function codePointLength(text) {
  let n = 0;
  for (const _ of text) n++; // eslint-disable-line no-unused-vars
  return n;
}

// The part of `text` after its first `count` code points.
export function dropCodePoints(text, count) {
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

export function newState(text) {
  const t = typeof text === "string" ? text : "";
  return { text: t, length: codePointLength(t) };
}

/*
 * Apply one reply.delta to a streaming text state {text, length}.
 * offset == length: append; offset < length: append only what is new;
 * offset > length: a gap, nothing is appended and the caller asks for a resync.
 * Returns {state, gap, appended}; `state` is a new object when text was added.
 */
export function applyDelta(state, offset, text) {
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
export function applySnapshot(state, text) {
  if (typeof text !== "string") return { state, replaced: false };
  const length = codePointLength(text);
  if (length < state.length) return { state, replaced: false };
  return { state: { text, length }, replaced: true };
}
