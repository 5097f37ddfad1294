// The report pages: calls and service level by interval, money by method, the agents'
// table, with filters (days, interval, queue, agent) kept in the address so a report can be
// linked and printed. Figures come from /api/v1/reports/... as they are; charts are drawn
// by charts.js.

import { barChart, hbarChart } from "./charts.js";
import { $, SignedOut, api, language, money, signedIn, translatePage, translator } from "./pages.js";

const lang = language();
const t = translator(lang);

function yesterday() {
  const day = new Date(Date.now() - 86_400_000);
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${String(day.getDate()).padStart(2, "0")}`;
}

function cell(row, value, number = false) {
  const td = document.createElement("td");
  td.textContent = value;
  td.dir = "auto";
  if (number) td.className = "number";
  row.append(td);
  return td;
}

function rows(tbody, items, fill) {
  tbody.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    fill(tr, item);
    return tr;
  }));
  if (items.length === 0) {
    const tr = document.createElement("tr");
    cell(tr, t("nothing")).colSpan = 5;
    tbody.append(tr);
  }
}

const pct = (value) => (value === null ? "–" : `${value.toFixed(1)}%`);

function duration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${h}:${String(m).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

function intervalLabel(start, interval) {
  return interval === "day" || interval === "week" ? start.slice(0, 10) : `${start.slice(5, 10)} ${start.slice(11, 16)}`;
}

function queueReport(report) {
  const byInterval = new Map();
  for (const row of report.rows) {
    const sums = byInterval.get(row.interval_start) || { offered: 0, answered: 0, abandoned: 0, within: 0, base: 0 };
    sums.offered += row.offered;
    sums.answered += row.answered;
    sums.abandoned += row.abandoned;
    sums.within += row.answered_within;
    sums.base += row.offered - row.abandoned_short;
    byInterval.set(row.interval_start, sums);
  }
  const starts = [...byInterval.keys()].sort();
  const sums = starts.map((s) => byInterval.get(s));
  $("queue-chart").replaceChildren(barChart({
    title: t("queue_report"),
    categories: starts.map((s) => intervalLabel(s, report.interval)),
    series: [
      { name: t("offered"), values: sums.map((s) => s.offered) },
      { name: t("answered"), values: sums.map((s) => s.answered) },
      { name: t("abandoned"), values: sums.map((s) => s.abandoned) },
    ],
    percent: { name: `${t("service_level")} (${report.service_level_seconds} s)`, values: sums.map((s) => (s.base ? (100 * s.within) / s.base : null)) },
  }));
  const queues = report.totals.filter((row) => row.queue_id !== null);
  rows($("queue-table").tBodies[0], queues, (tr, row) => {
    tr.dataset.queue = String(row.queue_id);
    cell(tr, row.queue_name ?? String(row.queue_id));
    cell(tr, String(row.offered), true);
    cell(tr, String(row.answered), true);
    cell(tr, String(row.abandoned), true);
    cell(tr, pct(row.service_level_pct), true);
  });
}

function moneyReport(report) {
  const byMethod = new Map();
  for (const figure of report.figures.filter((f) => f.kind === "collected")) {
    const key = `${figure.channel}|${figure.currency}`;
    const sums = byMethod.get(key) || { channel: figure.channel, currency: figure.currency, count: 0, amount: 0 };
    sums.count += figure.count;
    sums.amount += figure.amount_minor;
    byMethod.set(key, sums);
  }
  const methods = [...byMethod.values()];
  const label = (m) => `${t(m.channel)} (${m.currency})`;
  $("money-chart").replaceChildren(hbarChart({
    title: t("money_by_method"), labels: methods.map(label), values: methods.map((m) => m.amount),
    format: (value, i) => money(value, methods[i].currency, lang),
  }));
  rows($("money-table").tBodies[0], methods, (tr, m) => {
    tr.dataset.channel = `${m.channel}|${m.currency}`;
    cell(tr, label(m));
    cell(tr, String(m.count), true);
    cell(tr, money(m.amount, m.currency, lang), true).dir = "ltr";
  });
  // The business's total (no agent, no queue), a row per currency ("–": nothing collected).
  const totals = report.per_call.filter((row) => row.agent_id === null && row.queue_id === null);
  rows($("per-call-table").tBodies[0], totals, (tr, row) => {
    tr.dataset.currency = row.currency ?? "";
    const amount = (minor) => (row.currency ? money(minor, row.currency, lang) : "–");
    cell(tr, String(row.calls), true);
    cell(tr, amount(row.amount_minor), true).dir = "ltr";
    cell(tr, amount(row.per_call_minor), true).dir = "ltr";
  });
}

function agentReport(report) {
  rows($("agent-table").tBodies[0], report.totals, (tr, row) => {
    tr.dataset.agent = String(row.agent_id);
    cell(tr, row.agent_name ?? String(row.agent_id));
    cell(tr, String(row.handled), true);
    cell(tr, duration(row.talk_seconds), true);
    cell(tr, row.average_talk_seconds === null ? "–" : `${Math.round(row.average_talk_seconds)} s`, true);
  });
}

function filters() {
  const form = new FormData($("filters"));
  const query = new URLSearchParams();
  for (const [key, value] of form) if (value) query.set(key, value);
  return query;
}

function only(query, keys) {
  const kept = new URLSearchParams();
  for (const key of keys) if (query.has(key)) kept.set(key, query.get(key));
  return kept.toString();
}

async function show() {
  const query = filters();
  history.replaceState(null, "", `${location.pathname}?${query}`);
  $("report-error").textContent = "";
  try {
    const [queues, money_, agents] = await Promise.all([
      api(`/reports/queues?${only(query, ["from", "to", "interval", "queue"])}`),
      api(`/reports/money?${only(query, ["from", "to", "queue", "agent"])}`),
      api(`/reports/agents?${only(query, ["from", "to", "interval", "queue", "agent"])}`),
    ]);
    $("period").textContent = `${queues.date_from} – ${queues.date_to} (${queues.timezone})`;
    queueReport(queues);
    moneyReport(money_);
    agentReport(agents);
    document.body.dataset.loaded = query.toString();
  } catch (error) {
    $("report-error").textContent = error.message;
  }
}

async function choices() {
  const [queues, agents] = await Promise.all([api("/queues"), api("/agents")]);
  const add = (select, items, name) => select.append(...items.map((item) => Object.assign(document.createElement("option"), { value: String(item.id), textContent: name(item) })));
  add($("filters").elements.queue, queues.items, (q) => q.name);
  add($("filters").elements.agent, agents.items.filter((a) => a.role === "agent"), (a) => a.display_name);
}

async function start() {
  translatePage(t);
  try {
    await signedIn(t);
  } catch (error) {
    if (!(error instanceof SignedOut)) $("login-error").textContent = error.message;
    return;
  }
  $("reports").hidden = false;
  await choices().catch(() => {});
  const asked = new URLSearchParams(location.search);
  const form = $("filters").elements;
  form.from.value = asked.get("from") || yesterday();
  form.to.value = asked.get("to") || form.from.value;
  for (const key of ["interval", "queue", "agent"]) if (asked.get(key)) form[key].value = asked.get(key);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  $("print").addEventListener("click", () => window.print());
  await show();
}

start();
