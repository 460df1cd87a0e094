/*
 * The import page while a file is imported: polls the job's status (JSON) every
 * half second and shows how far it got, until it is done or failed.
 */

import { gettext, interpolate } from "./i18n.js";

const config = JSON.parse(document.getElementById("import-config").textContent);
const bar = document.getElementById("import-bar");
const state = document.getElementById("import-state");
const done = document.getElementById("import-done");

const PHASES = {
  read: () => gettext("Reading the file…"),
  render: (s) => interpolate(gettext("Formatting answers: %(done)s of %(total)s"), s),
  store: (s) => interpolate(gettext("Saving messages: %(done)s of %(total)s"), s),
};

function show(status) {
  if (status.state === "done") {
    bar.max = 1;
    bar.value = 1;
    state.textContent = interpolate(gettext("Imported %(imported)s conversations."), status);
    done.hidden = false;
    return true;
  }
  if (status.state === "failed") {
    bar.hidden = true;
    state.textContent = status.error;
    return true;
  }
  if (status.total) {
    bar.max = status.total;
    bar.value = status.done;
  }
  state.textContent = (PHASES[status.phase] || PHASES.read)(status);
  return false;
}

async function poll() {
  let response;
  try {
    response = await fetch(config.statusUrl, { headers: { Accept: "application/json" } });
  } catch (err) {
    setTimeout(poll, 2000); // offline for a moment: try again
    return;
  }
  if (response.status === 404) {
    bar.hidden = true;
    state.textContent = gettext("This import is no longer known. If the server restarted during it, nothing of it was saved: try again.");
    return;
  }
  if (response.ok && show(await response.json())) return;
  setTimeout(poll, 500);
}

poll();
