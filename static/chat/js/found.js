/*
 * A page opened from a search result (?m=<id>): the server already shows the
 * message's branch and marks the message .is-found; bring it into view.
 */

import { holdPosition } from "./scroll.js";

export function showFoundMessage() {
  const found = document.querySelector("article.message.is-found");
  if (!found) return false;
  holdPosition();
  found.scrollIntoView({ block: "center" });
  return true;
}
