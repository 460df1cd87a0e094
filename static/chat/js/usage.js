/*
 * The person's tokens today against their daily quota (#usage-today), from the
 * page's config and then from each `usage` frame (sent before every reply.done).
 */

import { cfg } from "./page.js";
import { formatCount, toInt } from "./format.js";
import { gettext, interpolate } from "./i18n.js";

const usage = { used: 0, quota: 0, ...(cfg.usage || {}) };

function render() {
  const el = document.getElementById("usage-today");
  if (!el) return;
  const used = toInt(usage.used) || 0;
  const quota = toInt(usage.quota) || 0;
  el.textContent = quota
    ? interpolate(gettext("%(used)s of %(quota)s tokens today"), {
        used: formatCount(used),
        quota: formatCount(quota),
      })
    : interpolate(gettext("%(used)s tokens today"), { used: formatCount(used) });
  el.dataset.state = quota && used >= quota ? "over" : quota && used >= 0.8 * quota ? "near" : "ok";
}

/** A `usage` frame: the tokens used today, this answer included. */
export function showUsage(data) {
  if (toInt(data.used) === null) return;
  usage.used = data.used;
  render();
}

/** A `quota` error: the server says today's tokens are spent. */
export function showQuotaReached(limit) {
  if (toInt(limit) !== null) usage.quota = limit;
  usage.used = Math.max(toInt(usage.used) || 0, toInt(usage.quota) || 0);
  render();
}

export function initUsage() {
  render();
}
