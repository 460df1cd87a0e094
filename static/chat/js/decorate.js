/*
 * Decorating a finished reply's server HTML: each code block gets a header with its
 * language and a Copy button, each table a scrollable wrapper, each link to another
 * site a new tab. Safe to run twice on the same HTML.
 */

import { gettext, interpolate } from "./i18n.js";

export function decorate(root) {
  for (const block of root.querySelectorAll("div.codehilite")) {
    if (block.querySelector(":scope > .code-header")) continue;
    const language = block.dataset.language || "";
    const header = document.createElement("div");
    header.className = "code-header";
    const label = document.createElement("span");
    label.className = "code-lang";
    label.textContent = language || gettext("code");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "action-btn code-copy"; // styled like the answer's own actions
    button.textContent = gettext("Copy");
    button.setAttribute(
      "aria-label",
      language ? interpolate(gettext("Copy %(language)s code"), { language }) : gettext("Copy code")
    );
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
    wrap.setAttribute("aria-label", gettext("Table"));
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
