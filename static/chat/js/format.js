/* Numbers, durations and times as the page shows them, in the page's language. */

import { locale } from "./i18n.js";

export function toInt(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

const units = {};
function unit(name, maximumFractionDigits) {
  const key = name + maximumFractionDigits;
  units[key] ||= new Intl.NumberFormat(locale, { style: "unit", unit: name, maximumFractionDigits });
  return units[key];
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1000) return unit("millisecond", 0).format(Math.round(ms));
  if (ms < 60000) return unit("second", 1).format(ms / 1000);
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return unit("minute", 0).format(minutes) + " " + unit("second", 0).format(seconds);
}

const counts = new Intl.NumberFormat(locale);

export function formatCount(n) {
  return Number.isFinite(n) ? counts.format(n) : "?";
}

function formatTime(iso) {
  if (!iso) return null;
  // Django's ISO dates carry microseconds; keep milliseconds for Date.parse.
  const d = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  if (Number.isNaN(d.getTime())) return null;
  const time = d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  const sameDay = d.toDateString() === new Date().toDateString();
  const short = sameDay
    ? time
    : d.toLocaleDateString(locale, { month: "short", day: "numeric" }) + ", " + time;
  const full = d.toLocaleString(locale, { dateStyle: "full", timeStyle: "short" });
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
