/* Numbers, durations and times as the page shows them. */

export function toInt(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return minutes + " min " + seconds + " s";
}

export function formatCount(n) {
  return Number.isFinite(n) ? n.toLocaleString("en-US") : "?";
}

function formatTime(iso) {
  if (!iso) return null;
  // Django's ISO dates carry microseconds; keep milliseconds for Date.parse.
  const d = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  if (Number.isNaN(d.getTime())) return null;
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const sameDay = d.toDateString() === new Date().toDateString();
  const short = sameDay
    ? time
    : d.toLocaleDateString([], { month: "short", day: "numeric" }) + ", " + time;
  const full = d.toLocaleString([], { dateStyle: "full", timeStyle: "short" });
  return { short, full, iso: d.toISOString() };
}

/* A <time>: local short time (date too if not today), the full date in its title. */
export function setTime(timeEl, iso) {
  if (!timeEl) return;
  const t = formatTime(iso || timeEl.getAttribute("datetime"));
  if (!t) return;
  if (iso) timeEl.setAttribute("datetime", t.iso);
  timeEl.textContent = t.short;
  timeEl.title = t.full;
}
