/*
 * The page script's words in the page's language. The server hands its catalog over
 * with json_script (#page-catalog: English msgid -> translation), so there is no
 * extra request and no inline script. `manage.py makemessages -d djangojs` finds
 * every gettext("...") call here; a test fails on user-facing text that skips it.
 */

function readCatalog() {
  const el = document.getElementById("page-catalog");
  if (!el) return {};
  try {
    return JSON.parse(el.textContent) || {};
  } catch (err) {
    return {};
  }
}

const catalog = readCatalog();

/** The page's language (<html lang>), for Intl's number and date formats. */
export const locale = document.documentElement.lang || "en";

/** The translation of `msgid`, or `msgid` itself when there is none. */
export function gettext(msgid) {
  const text = catalog[msgid];
  return typeof text === "string" && text ? text : msgid;
}

/** Fill Python-style %(name)s placeholders: interpolate(gettext("…"), { name }). */
export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}
