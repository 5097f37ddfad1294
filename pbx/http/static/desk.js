// The agent's desk: sign-in, state, the incoming-call card with the screen-pop, the account
// panel, call controls, wrap-up, customer search with click-to-call, and the supervisor view.
// Plain ES modules, no build step and no CDN: it must work on a closed network.
// The session lives in an HttpOnly cookie; this script never sees the token.

const $ = (id) => document.getElementById(id);
const API = "/api/v1";
let me = null;
let socket = null;
let retryMs = 1000;
let current = null; // the call on the desk: {call_id, record_id, ...}
let lastSeen = null; // the newest event id handled: the server replays each once, in order

async function api(method, path, body) {
  const response = await fetch(API + path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    showLogin();
    throw new Error("signed out");
  }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(data?.error?.message || response.statusText);
  return data;
}

function money(minor, currency) {
  if (currency === null || currency === undefined) return String(minor);
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(minor / 10 ** digits);
}

function text(element, value) {
  element.textContent = value ?? "";
}

function item(list, value) {
  const li = document.createElement("li");
  li.textContent = value;
  li.dir = "auto";
  list.append(li);
  return li;
}

// --- sign-in ---------------------------------------------------------------------------------

function showLogin() {
  $("login").hidden = false;
  $("desk").hidden = true;
  if (socket) socket.close();
  socket = null;
  text($("connection"), "Not signed in");
}

async function start() {
  try {
    me = await api("GET", "/auth/me");
  } catch {
    showLogin();
    return;
  }
  $("login").hidden = true;
  $("desk").hidden = false;
  text($("me-name"), me.username);
  text($("me-role"), me.role);
  $("supervisor").hidden = me.role === "agent";
  refreshState();
  connect();
  if (me.role !== "agent") superviseLoop();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  text($("login-error"), "");
  try {
    await api("POST", "/auth/login", Object.fromEntries(form));
    event.target.reset();
    await start();
  } catch (error) {
    text($("login-error"), error.message);
  }
});

$("sign-out").addEventListener("click", async () => {
  await api("POST", "/auth/logout").catch(() => {});
  sessionStorage.clear();
  showLogin();
});

// --- a one-time link: an invitation or a reset -----------------------------------------------
// The link carries its token in the fragment, which no request line (so no server or proxy
// log) ever holds; it is dropped from the address bar at once and POSTed with the password.

const linkToken = new URLSearchParams(location.hash.slice(1)).get("set-password");
if (linkToken) {
  history.replaceState(null, "", location.pathname + location.search);
  $("set-password").hidden = false;
}

$("set-password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  text($("set-password-error"), "");
  const password = new FormData(event.target).get("password");
  try {
    await api("POST", "/auth/set-password", { token: linkToken, password });
    event.target.reset();
    $("set-password").hidden = true;
    text($("set-password-done"), "Password set: sign in with it.");
  } catch (error) {
    text($("set-password-error"), error.message);
  }
});

// --- agent state -----------------------------------------------------------------------------

function showState(state) {
  text($("me-state"), state.state.replace("_", " "));
  text($("me-reason"), state.pause_reason ? `(${state.pause_reason})` : "");
}

async function refreshState() {
  try {
    showState(await api("GET", `/agents/${me.user_id}/state`));
  } catch (error) {
    text($("me-state"), `unknown (${error.message})`);
  }
}

async function setState(state, reason = "") {
  try {
    showState(await api("PUT", `/agents/${me.user_id}/state`, { state, reason }));
  } catch (error) {
    text($("me-reason"), error.message);
  }
}

$("go-available").addEventListener("click", () => setState("available"));
$("go-paused").addEventListener("click", () => setState("paused", $("pause-reason").value));
$("go-logged-out").addEventListener("click", () => setState("logged_out"));

// --- events ----------------------------------------------------------------------------------

function lastIdKey() {
  return `ledgerline:last-event:${me.tenant_id}:${me.user_id}`;
}

function connect() {
  const last = sessionStorage.getItem(lastIdKey());
  lastSeen = last;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = last ? `?last_event_id=${encodeURIComponent(last)}` : "";
  socket = new WebSocket(`${scheme}://${location.host}${API}/ws${query}`);
  socket.addEventListener("open", () => {
    retryMs = 1000;
  });
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") {
      text($("connection"), "Connected");
      return;
    }
    if (!event.id || (lastSeen && !newer(event.id, lastSeen))) return;
    lastSeen = event.id;
    sessionStorage.setItem(lastIdKey(), event.id);
    handle(event);
  });
  socket.addEventListener("close", () => {
    if (!me || $("desk").hidden) return;
    text($("connection"), "Reconnecting…");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  });
}

function newer(id, than) {
  // Stream ids are "milliseconds-sequence"
  const [ms, seq] = id.split("-").map(Number);
  const [thanMs, thanSeq] = than.split("-").map(Number);
  return ms > thanMs || (ms === thanMs && seq > thanSeq);
}

function handle(event) {
  const data = event.data;
  if (event.type === "agent.state" && data.agent_id === me.user_id) showState(data);
  if (event.type === "call.offered") offered(data);
  if (event.type === "call.connected" && current?.call_id === data.call_id) connected(data);
  if (event.type === "call.ended" && current?.call_id === data.call_id) ended(data);
  if (event.type === "payment.progress" && current?.call_id === data.call_id) {
    text($("payment-status"), `Payment: ${data.progress}`);
  }
  if (event.type === "payment.result" && current?.call_id === data.call_id) paymentResult(data);
  if (event.type === "mandate.progress" && current?.call_id === data.call_id) {
    text($("payment-status"), `Direct debit: ${data.progress}`);
  }
  if (event.type === "mandate.result" && current?.call_id === data.call_id) {
    text($("payment-status"), `Direct debit: ${data.status}${data.scheme ? ` (${data.scheme})` : ""}${data.confirmation ? `; confirmation ${data.confirmation}` : ""}`);
  }
  if (event.type === "account.updated" && current?.call_id === data.call_id) accountUpdated(data);
  if (event.type === "webhook.disabled" && me.role === "admin") webhookDisabled(data);
  if (event.type === "payment.status" && current?.record_id === data.call_record_id) {
    text($("payment-status"), `Payment: ${money(data.amount_minor, data.currency)} by ${data.method} ${data.status}; balance now ${money(data.balance_minor, data.currency)}`);
  }
}

// --- notices for admins ----------------------------------------------------------------------

// Something only an admin can fix, kept on the desk until the page is reloaded.
function adminNotices() {
  let list = $("admin-notices");
  if (list) return list;
  const section = document.createElement("section");
  section.setAttribute("aria-labelledby", "admin-notices-title");
  section.setAttribute("role", "alert");
  const title = document.createElement("h2");
  title.id = "admin-notices-title";
  title.textContent = "Needs an admin";
  list = document.createElement("ul");
  list.id = "admin-notices";
  section.append(title, list);
  $("desk").prepend(section);
  return list;
}

// The delivery worker disabled a webhook subscription: the billing system hears nothing more
// until the receiver is fixed and the subscription enabled again (events are kept).
function webhookDisabled(notice) {
  const since = new Date(notice.failing_since).toLocaleString();
  const line = `Webhook subscription ${notice.subscription_id} (${notice.url}) was disabled: ${notice.reason}, since ${since}. Fix the receiver, then enable the subscription again; events are kept.`;
  item(adminNotices(), line).dir = "ltr";
}

// --- the call --------------------------------------------------------------------------------

function offered(call) {
  current = call;
  const who = call.panel ? call.panel.customer.name : call.caller_number ?? "withheld";
  item($("history"), `${new Date().toLocaleTimeString()} · ${who}`);
  $("call-empty").hidden = true;
  $("call-card").hidden = false;
  $("call-controls").hidden = true;
  $("wrapup").hidden = true;
  const panel = call.panel;
  text($("call-status"), `Ringing · ${call.queue ?? "direct"} · waited ${call.waited_seconds ?? 0} s`);
  text($("call-name"), panel ? panel.customer.name : call.match === "ambiguous" ? "Several customers share this number" : "Unknown caller");
  text($("call-number"), call.caller_number ?? "withheld");
  const verified = call.verified ? `Identity: ${call.verified}` : "Identity: not verified";
  const notice = call.recording_notice === "failed" ? "Recording notice NOT played: tell the caller the call is recorded" : "";
  const owed = panel ? panel.accounts.map((a) => `${a.ref}: ${money(a.balance_minor, a.currency)} (${a.status}${a.vip ? ", VIP" : ""})`).join(" · ") : "";
  text($("call-summary"), [owed, verified, notice, inTheIvr(call)].filter(Boolean).join(" — "));
  showAccount(panel);
  if (!panel && call.household) showHousehold(call.household);
}

// A number several customers share (billing_bridge/household.py): the agent asks who is
// calling and picks them; the server attaches them to the call and sends their panel
// (account.updated). Someone not listed is found by search and attached from there.
function showHousehold(household) {
  const body = $("account-body");
  body.replaceChildren();
  const heading = Object.assign(document.createElement("h3"), { textContent: "Who is calling? They share this number:" });
  const list = Object.assign(document.createElement("ul"), { id: "household" });
  for (const member of household.members) {
    const li = item(list, `${member.name} · ${member.ref} · owes ${money(member.balance_minor, member.currency)} `);
    li.append(attachButton(member, "household"));
  }
  if (household.more) item(list, `… and ${household.more} more: find them by search`);
  body.append(heading, list);
}

function attachButton(customer, via) {
  const id = customer.customer_id ?? customer.id;
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: "This is the caller" });
  button.setAttribute("aria-label", `Attach ${customer.name} to this call`);
  button.addEventListener("click", async () => {
    if (!current) return;
    try {
      await api("POST", `/calls/${encodeURIComponent(current.call_id)}/customer`, { customer_id: id, via });
    } catch (error) {
      text($("call-status"), `Attach: ${error.message}`);
    }
  });
  return button;
}

// What the caller already did in the IVR's self-service (pbx/callflow/self_service.py Step).
const IVR_STEPS = {
  identified: "identified by account and PIN/birth date", not_identified: "could not identify",
  balance: "heard the balance", paid: "paid by card", payment_pending: "card payment pending",
  payment_failed: "card payment failed", payment_abandoned: "card payment abandoned",
  nothing_owed: "tried to pay, owed nothing", mandate: "set up a direct debit",
  mandate_failed: "direct debit failed", mandate_abandoned: "direct debit abandoned",
  agent: "asked for an agent", no_choice: "made no choice",
  promised: "promised to pay", promise_declined: "heard a promise offered, did not confirm",
  promise_refused: "promise refused by the rules",
};

function inTheIvr(call) {
  const steps = call.in_the_ivr?.steps ?? [];
  return steps.length ? `In the IVR: ${steps.map((s) => IVR_STEPS[s] ?? s).join(", ")}` : "";
}

// The billing system changed the caller's customer, accounts or invoices during the call.
// Or the agent attached the caller to the call (a household's member, or one found by search).
function accountUpdated(update) {
  current = { ...current, panel: update.panel, customer_id: update.customer_id };
  text($("call-name"), update.panel.customer.name);
  showAccount(update.panel);
  if (!$("call-controls").hidden) {
    for (const id of ["take-payment", "pay-link", "mandate-phone"]) $(id).hidden = !update.panel.accounts.length;
  }
}

function connected() {
  text($("call-status"), "On call");
  $("call-controls").hidden = false;
  $("take-payment").hidden = !current?.panel?.accounts?.length;
  $("pay-link").hidden = !current?.panel?.accounts?.length;
  $("mandate-phone").hidden = !current?.panel?.accounts?.length;
  $("promise-form").hidden = !current?.panel?.accounts?.length;
  showInvoicePayments(true);
  text($("payment-status"), "");
  $("hold").hidden = false;
  $("resume").hidden = true;
}

function ended(call) {
  text($("call-status"), `Ended (${call.outcome ?? "over"})`);
  $("call-controls").hidden = true;
  $("promise-form").hidden = true;
  showInvoicePayments(false);
  if (current.agent_id === me.user_id || call.agent_id === me.user_id) {
    $("wrapup").hidden = false;
    text($("wrapup-done"), "");
    $("wrapup").querySelector("select").focus();
  }
}

// What Ledgerline took or granted that the billing system has not acknowledged yet: the
// balance shown already includes it (billing_bridge/balances.py).
function pendingInBilling(account) {
  const pending = account.pending_in_billing_minor;
  return pending ? ` · pending in billing: ${money(pending, account.currency)}` : "";
}

function promiseLine(p) {
  const paid = p.paid_minor ? ` · paid ${money(p.paid_minor, p.currency)}` : "";
  return `${money(p.amount_minor, p.currency)} by ${p.due_on} (${p.method}) · ${p.status}${paid}`;
}

function planLine(p) {
  const next = p.instalments.find((i) => i.status === "pending");
  const broken = p.instalments.filter((i) => i.status === "broken").length;
  return `${money(p.paid_minor, p.currency)} of ${money(p.total_minor, p.currency)} · ${p.frequency} · ${p.status}` +
    (next ? ` · next ${money(next.amount_minor - next.paid_minor, p.currency)} on ${next.due_on}` : "") +
    (broken ? ` · ${broken} missed` : "");
}

const PAUSED_BY = { opted_out: "the customer opted out", dispute: "disputed", promise: "promise to pay", plan: "payment plan" };

// Reminders on the pop: why they are paused now, then the latest ones and how each went.
function reminderLines(reminders) {
  if (!reminders) return [];
  const paused = reminders.paused.map((p) => `Paused: ${PAUSED_BY[p.reason] ?? p.reason}` +
    (p.until ? ` until ${p.until}` : "") + (p.detail ? ` (${p.detail})` : ""));
  const recent = reminders.recent.map((r) => `${(r.at ?? "").slice(0, 16).replace("T", " ")} · day ${r.step_day} ${r.channel} · ` +
    (r.status === "stopped" ? `stopped (${r.stop_reason})` : r.status === "listed" ? "listed for calls" : r.delivery ?? r.status));
  return [...paused, ...recent];
}

// A past call: when, how it ended, the disposition, the notes' excerpt (screened by the
// server), and the promises and payments taken in it.
function pastCallLine(c) {
  const taken = [
    ...(c.promises ?? []).map((p) => `promised ${money(p.amount_minor, p.currency)} by ${p.due_on} (${p.status})`),
    ...(c.payments ?? []).map((p) => `paid ${money(p.amount_minor, p.currency)} by ${p.method} (${p.status})`),
  ];
  return [c.at.slice(0, 16).replace("T", " "), c.outcome ?? "-", c.disposition ?? "", c.notes ? `“${c.notes}”` : "", ...taken]
    .filter(Boolean).join(" · ");
}

function showAccount(panel) {
  const body = $("account-body");
  body.replaceChildren();
  if (!panel) {
    body.append(Object.assign(document.createElement("p"), { textContent: "No customer identified." }));
    return;
  }
  const heading = document.createElement("h3");
  heading.dir = "auto";
  heading.textContent = `${panel.customer.name} · ${panel.customer.ref}`;
  body.append(heading);
  const sections = [
    ["Accounts", panel.accounts.map((a) => `${a.ref}: ${money(a.balance_minor, a.currency)} · ${a.status}${a.vip ? " · VIP" : ""}${pendingInBilling(a)}`)],
    ["Overdue invoices", panel.overdue_invoices.map((i) => `${i.ref}: ${money(i.outstanding_minor, i.currency)}, due ${i.due_on} (${i.days_overdue} days)`)],
    ["Mandates", panel.mandates.map((m) => `${m.scheme} · ${m.status}`)],
    ["Payments", panel.payments.map((p) => `${p.at.slice(0, 10)}: ${money(p.amount_minor, p.currency)} · ${p.status}`)],
    ["Promises to pay", (panel.promises ?? []).map(promiseLine)],
    ["Payment plans", (panel.plans ?? []).map(planLine)],
    ["Reminders", reminderLines(panel.reminders)],
    ["Past calls", panel.recent_calls.map(pastCallLine)],
  ];
  for (const [title, lines] of sections) {
    const h = document.createElement("h4");
    h.textContent = title;
    const list = document.createElement("ul");
    if (lines.length === 0) item(list, "none");
    lines.forEach((line, index) => {
      const li = item(list, line);
      if (title === "Overdue invoices") {
        li.className = "overdue";
        li.append(" ", payInvoiceButton(panel.overdue_invoices[index]));
      }
      const recording = title === "Past calls" ? panel.recent_calls[index].recording_id : null;
      if (recording) li.append(" ", playButton(recording));
    });
    body.append(h, list);
  }
}

function playButton(recordingId) {
  // The server decides who may listen (and audits it); a refusal is shown in place.
  const button = Object.assign(document.createElement("button"), {
    type: "button", textContent: "Play recording",
  });
  button.setAttribute("aria-label", `Play the recording of this call`);
  button.addEventListener("click", async () => {
    try {
      const link = await api("GET", `/recordings/${recordingId}/playback`);
      const audio = Object.assign(document.createElement("audio"), { controls: true, src: link.url });
      audio.setAttribute("aria-label", "Call recording");
      button.replaceWith(audio);
      audio.play().catch(() => {});
    } catch (error) {
      button.replaceWith(Object.assign(document.createElement("span"), { textContent: error.message }));
    }
  });
  return button;
}

function payInvoiceButton(invoice) {
  // The card pays this invoice, for what it owes (the server checks it still does and answers
  // with what it will take). Shown while the caller is on the line, as the call's own button.
  const button = Object.assign(document.createElement("button"), {
    type: "button", textContent: "Take payment", className: "pay-invoice",
    hidden: $("call-controls").hidden,
  });
  button.setAttribute("aria-label", `Take a card payment of ${money(invoice.outstanding_minor, invoice.currency)} for invoice ${invoice.ref}`);
  button.addEventListener("click", () => takeCardPayment({
    account_id: invoice.account_id, invoice_id: invoice.id, amount_minor: invoice.outstanding_minor,
  }, `invoice ${invoice.ref}`));
  return button;
}

function showInvoicePayments(shown) {
  document.querySelectorAll("button.pay-invoice").forEach((button) => { button.hidden = !shown; });
}

async function takeCardPayment(body, what) {
  if (!current) return;
  $("take-payment").disabled = true;
  try {
    const started = await api("POST", `/calls/${encodeURIComponent(current.call_id)}/payments/card`, body);
    text($("payment-status"), `Payment of ${money(started.amount_minor, started.currency)}${what ? ` for ${what}` : ""}: the caller is keying the card`);
  } catch (error) {
    text($("payment-status"), `Payment: ${error.message}`);
    $("take-payment").disabled = false;
  }
}

function paymentResult(result) {
  const amount = money(result.amount_minor, result.currency);
  const outcome = result.status === "succeeded"
    ? `${amount} taken (card ending ${result.card_last4}); balance now ${money(result.balance_minor, result.currency)}`
    : result.status === "abandoned" ? "nothing charged: the caller could not key the card"
    : `${amount} not taken (${result.failure ?? result.status})`;
  text($("payment-status"), `Payment: ${outcome}`);
  $("take-payment").disabled = false;
}

$("take-payment").addEventListener("click", () => {
  const account = current?.panel?.accounts?.[0];
  if (!account) return;
  takeCardPayment({ account_id: account.id }, "");
});

$("mandate-phone").addEventListener("click", async () => {
  const account = current?.panel?.accounts?.[0];
  if (!account) return;
  try {
    const started = await api("POST", `/calls/${encodeURIComponent(current.call_id)}/mandates/phone`,
      { account_id: account.id });
    text($("payment-status"), `Direct debit (${started.scheme}): the caller is keying their bank details`);
  } catch (error) {
    text($("payment-status"), `Direct debit: ${error.message}`);
  }
});

$("pay-link").addEventListener("click", async () => {
  const account = current?.panel?.accounts?.[0];
  if (!account) return;
  try {
    const sent = await api("POST", `/calls/${encodeURIComponent(current.call_id)}/payments/link`,
      { account_id: account.id, channel: "sms" });
    text($("payment-status"), `Pay link for ${money(sent.amount_minor, sent.currency)} ${sent.status} to ${sent.to}`);
  } catch (error) {
    text($("payment-status"), `Pay link: ${error.message}`);
  }
});

// "12.5" in a currency of two decimals is 1250 minor units; null: not a sum of money.
function toMinor(value, currency) {
  const digits = new Intl.NumberFormat(undefined, { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  const match = /^(\d{1,9})(?:[.,](\d+))?$/.exec(value.trim());
  if (!match || (match[2] ?? "").length > digits) return null;
  return Number(match[1]) * 10 ** digits + Number((match[2] ?? "").padEnd(digits, "0") || "0");
}

// The caller's promise to pay, recorded in this call; the server checks its caps and sends
// the panel again (account.updated), which shows the promise under "Promises to pay".
$("promise-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const account = current?.panel?.accounts?.[0];
  if (!account) return;
  const fields = event.target.elements;
  const amount = toMinor(fields.namedItem("amount").value, account.currency);
  if (amount === null) {
    text($("promise-status"), "Promise: the amount is not a sum of money");
    return;
  }
  try {
    const made = await api("POST", `/calls/${encodeURIComponent(current.call_id)}/promises`, {
      account_id: account.id, amount_minor: amount, due_on: fields.namedItem("due_on").value,
      method: fields.namedItem("promise_method").value,
    });
    text($("promise-status"), `Promise recorded: ${money(made.amount_minor, made.currency)} by ${made.due_on}`);
    event.target.reset();
  } catch (error) {
    text($("promise-status"), `Promise: ${error.message}`);
  }
});

async function control(path, body) {
  try {
    await api("POST", `/calls/${encodeURIComponent(current.call_id)}/${path}`, body);
    return true;
  } catch (error) {
    text($("call-status"), error.message);
    return false;
  }
}

$("hold").addEventListener("click", async () => {
  if (await control("hold")) {
    text($("call-status"), "On hold");
    $("hold").hidden = true;
    $("resume").hidden = false;
    $("resume").focus();
  }
});

$("resume").addEventListener("click", async () => {
  if (await control("resume")) {
    text($("call-status"), "On call");
    $("resume").hidden = true;
    $("hold").hidden = false;
    $("hold").focus();
  }
});

$("transfer").addEventListener("click", () => control("transfer", { mode: "blind", number: $("transfer-number").value.trim() }));
$("hangup").addEventListener("click", () => control("hangup"));

$("wrapup").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = Object.fromEntries(new FormData(event.target));
  try {
    await api("PUT", `/calls/${current.record_id}/disposition`, form);
    text($("wrapup-done"), "Saved.");
    event.target.reset();
  } catch (error) {
    text($("wrapup-done"), error.message);
  }
});

// --- customers -------------------------------------------------------------------------------

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = new FormData(event.target).get("q");
  const list = $("search-results");
  list.replaceChildren();
  try {
    const found = await api("GET", `/customers?q=${encodeURIComponent(q)}`);
    if (found.items.length === 0) item(list, "Nobody found.");
    for (const customer of found.items) {
      const li = item(list, `${customer.name} · ${customer.ref} · ${money(customer.balance_minor, customer.currency)} `);
      for (const phone of customer.phones) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `Call ${phone}`;
        button.addEventListener("click", () => api("POST", `/agents/${me.user_id}/calls`, { number: phone, customer_id: customer.id }).catch((error) => text($("call-status"), error.message)));
        li.append(button);
      }
      if (current && !$("call-controls").hidden) li.append(attachButton(customer, "search")); // on a call
    }
  } catch (error) {
    item(list, error.message);
  }
});

// --- collections mode: the worklist -----------------------------------------------------------
// The next account is claimed for this agent and shown (its pop) before any call is placed;
// "Call" places it with click-to-call; the outcome closes it or books a callback.

let worklist = null; // {entry, record_id}

function worklistWhy(entry) {
  const parts = entry.score_parts;
  return `Why: ${entry.reasons.join(", ")} · score ${entry.score} (amount ${parts.amount}, ` +
    `days overdue ${parts.days_overdue}, no contact ${parts.no_contact}, broken promises ${parts.broken_promises})`;
}

$("worklist-next").addEventListener("click", async () => {
  $("collections-outcome").hidden = true;
  try {
    const next = await api("POST", "/worklist/next");
    const passed = next.passed.map((p) => `${p.code}: ${p.message}`).join("; ");
    if (!next.entry) {
      worklist = null;
      $("worklist-why").hidden = true;
      $("worklist-call").hidden = true;
      text($("worklist-status"), `Nothing to call now.${passed ? ` Passed over: ${passed}` : ""}`);
      return;
    }
    worklist = { entry: next.entry, record_id: null };
    text($("worklist-status"), `Preview: ${next.pop?.customer?.name ?? "account " + next.entry.account_id}`);
    text($("worklist-why"), worklistWhy(next.entry));
    $("worklist-why").hidden = false;
    $("worklist-call").hidden = false;
    showAccount(next.pop);
  } catch (error) {
    text($("worklist-status"), error.message);
  }
});

$("worklist-call").addEventListener("click", async () => {
  try {
    const placed = await api("POST", `/worklist/entries/${worklist.entry.id}/call`);
    worklist.record_id = placed.record_id;
    text($("worklist-status"), "Calling: your phone rings first.");
    $("worklist-call").hidden = true;
    $("collections-outcome").hidden = false;
  } catch (error) {
    text($("worklist-status"), error.message); // the rule that refused it, or why it failed
  }
});

$("collections-outcome").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { outcome: form.get("outcome") };
  if (body.outcome === "callback" && form.get("callback_at")) body.callback_at = new Date(form.get("callback_at")).toISOString();
  if (form.get("notes")) body.notes = form.get("notes");
  try {
    await api("PUT", `/calls/${worklist.record_id}/collections-outcome`, body);
    text($("worklist-status"), "Outcome saved.");
    event.target.reset();
    event.target.hidden = true;
  } catch (error) {
    text($("worklist-status"), error.message);
  }
});

// --- supervisor ------------------------------------------------------------------------------

async function superviseLoop() {
  while (me && me.role !== "agent" && !$("desk").hidden) {
    try {
      const [queues, agents] = await Promise.all([api("GET", "/queue-stats"), api("GET", "/agent-states")]);
      const rows = queues.items.map((q) => [q.name, q.waiting, `${q.longest_wait_seconds} s`, Object.entries(q.agents).map(([s, n]) => `${n} ${s}`).join(", ")]);
      fill($("queue-rows"), rows);
      fill($("agent-rows"), agents.items.map((a) => [String(a.agent_id), a.state, a.since ? a.since.slice(11, 19) : ""]));
    } catch {
      // not connected to Asterisk right now: keep the last view
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const cell of cells) tr.append(Object.assign(document.createElement("td"), { textContent: cell, dir: "auto" }));
    return tr;
  }));
}

start();
