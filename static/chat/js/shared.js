/*
 * The shared page's only script: code blocks get their Copy button (decorate.js)
 * and copying works. No socket, no config: the page is read-only.
 */

import { decorate } from "./decorate.js";
import { copyCodeBlock } from "./clipboard.js";

const thread = document.getElementById("shared-messages");
if (thread) {
  for (const body of thread.querySelectorAll(".message-html")) decorate(body);
  thread.addEventListener("click", async (e) => {
    const codeCopy = e.target instanceof Element ? e.target.closest(".code-copy") : null;
    if (codeCopy) await copyCodeBlock(codeCopy);
  });
}
