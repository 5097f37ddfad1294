// The wall board: a tile per queue (callers waiting, the longest wait, agents by state,
// today's service level, abandoned and collected), amber or red past the queue's thresholds.
// Read once from /api/v1/board, then kept live by the desk's WebSocket (`board.tile` and
// `board.total` events); the longest wait ticks on locally from the server's `at`.

import { $, API, SignedOut, api, language, money, signedIn, translatePage, translator } from "./pages.js";

const lang = language();
const t = translator(lang);
const tiles = new Map(); // queue id -> {tile, receivedAt (ms, this clock)}
let retryMs = 1000;

function show(tile) {
  const known = tiles.get(tile.queue_id);
  if (known && Date.parse(known.tile.at) > Date.parse(tile.at)) return; // an older reading
  // The wait goes on from the server's reading, counted on this clock from its arrival
  // (the two clocks need not agree; `at` only orders the readings).
  tiles.set(tile.queue_id, { tile, readAt: Date.now() });
  draw();
}

function showTotal(total) {
  const parts = Object.entries(total.collected).map(([currency, minor]) => money(minor, currency, lang));
  $("collected-today").textContent = parts.length ? parts.join(" · ") : "0";
}

function longestNow({ tile, readAt }) {
  if (tile.waiting === 0) return 0;
  return tile.longest_wait_seconds + Math.floor((Date.now() - readAt) / 1000);
}

function statusNow(entry) {
  const { tile } = entry;
  const wait = longestNow(entry);
  const level = tile.service_level_pct;
  if (wait > tile.wait_red_seconds || (level !== null && level < tile.service_level_red_pct)) return "red";
  if (wait > tile.wait_amber_seconds || (level !== null && level < tile.service_level_amber_pct)) return "amber";
  return "ok";
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  return `${m}:${String(seconds % 60).padStart(2, "0")}`;
}

function figure(label, value, key) {
  const div = document.createElement("div");
  const dt = Object.assign(document.createElement("dt"), { textContent: t(label) });
  const dd = Object.assign(document.createElement("dd"), { textContent: value, dir: "ltr" });
  dd.dataset.figure = key;
  div.append(dt, dd);
  return div;
}

function draw() {
  const entries = [...tiles.values()].sort((a, b) => a.tile.name.localeCompare(b.tile.name));
  const main = $("tiles");
  if (entries.length === 0) {
    main.replaceChildren(Object.assign(document.createElement("p"), { textContent: t("no_queues") }));
    return;
  }
  const columns = entries.length <= 2 ? entries.length : entries.length <= 4 ? 2 : entries.length <= 6 ? 3 : 4;
  main.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
  main.style.gridTemplateRows = `repeat(${Math.ceil(entries.length / columns)}, minmax(0, 1fr))`;
  main.replaceChildren(...entries.map((entry) => {
    const { tile } = entry;
    const section = document.createElement("section");
    section.className = `tile ${statusNow(entry)}`;
    section.dataset.queue = tile.name;
    section.dataset.status = statusNow(entry);
    const h2 = Object.assign(document.createElement("h2"), { textContent: tile.name, dir: "auto" });
    const dl = document.createElement("dl");
    dl.className = "figures";
    const collected = Object.entries(tile.collected).map(([c, minor]) => money(minor, c, lang)).join(" · ") || "0";
    dl.append(
      figure("waiting", String(tile.waiting), "waiting"),
      figure("longest_wait", clock(longestNow(entry)), "longest_wait"),
      figure("service_level", tile.service_level_pct === null ? "–" : `${tile.service_level_pct}%`, "service_level"),
      figure("abandoned", String(tile.abandoned), "abandoned"),
      figure("collected", collected, "collected"),
    );
    const agents = document.createElement("p");
    agents.className = "agents";
    agents.dataset.figure = "agents";
    agents.textContent = Object.entries(tile.agents).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${t(state)}`).join(" · ");
    section.append(h2, dl, agents);
    return section;
  }));
}

async function load() {
  const board = await api("/board");
  for (const tile of board.tiles) show(tile);
  showTotal(board.total);
  draw();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/ws`);
  socket.addEventListener("message", async (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") {
      retryMs = 1000;
      $("connection").textContent = t("connected");
      // What moved while the socket was away; without Asterisk, say so (503).
      await load().catch((error) => { $("connection").textContent = error.message; });
    }
    if (event.type === "board.tile") show(event.data);
    if (event.type === "board.total") showTotal(event.data);
  });
  socket.addEventListener("close", () => {
    $("connection").textContent = t("reconnecting");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  });
}

async function start() {
  translatePage(t);
  try {
    await signedIn(t);
  } catch (error) {
    if (!(error instanceof SignedOut)) $("login-error").textContent = error.message;
    return;
  }
  connect();
  setInterval(draw, 1000); // the longest wait ticks; figures change only by the socket
}

start();
