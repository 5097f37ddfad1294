// What the board and the report pages share: the API with the session cookie, the sign-in
// form, the page's language (he, lt or en; Hebrew right to left) and money in minor units.
// Plain ES modules, no build step and no CDN.

import { TEXTS } from "./page_texts.js";

export const API = "/api/v1";
export const $ = (id) => document.getElementById(id);

export class SignedOut extends Error {}

export async function api(path) {
  const response = await fetch(API + path, { credentials: "same-origin" });
  if (response.status === 401) throw new SignedOut("signed out");
  const json = (response.headers.get("Content-Type") || "").startsWith("application/json");
  const data = json ? await response.json() : null;
  if (!response.ok) throw new Error(data?.error?.message || `${response.status} ${response.statusText}`);
  return data;
}

// ?lang=he|lt|en, else the browser's first language we have, else English.
export function language() {
  const asked = new URLSearchParams(location.search).get("lang");
  const wanted = [asked, ...(navigator.languages || [])].filter(Boolean).map((l) => l.slice(0, 2));
  const lang = wanted.find((l) => l in TEXTS) || "en";
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "he" ? "rtl" : "ltr";
  return lang;
}

export function translator(lang) {
  return (key) => TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
}

// Every element with data-text="key" gets its text in the page's language.
export function translatePage(t) {
  for (const element of document.querySelectorAll("[data-text]")) {
    element.textContent = t(element.dataset.text);
  }
  document.title = t(document.body.dataset.title);
}

export function money(minor, currency, lang) {
  const format = new Intl.NumberFormat(lang, { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(minor / 10 ** digits);
}

function loginForm(t) {
  const form = Object.assign(document.createElement("form"), { id: "login-form" });
  for (const [name, type, autocomplete] of [["tenant", "text", "organization"], ["username", "text", "username"], ["password", "password", "current-password"]]) {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { name, type, autocomplete, required: true });
    label.append(Object.assign(document.createElement("span"), { textContent: t(name === "tenant" ? "business" : name) }), input);
    form.append(label);
  }
  form.append(Object.assign(document.createElement("button"), { type: "submit", textContent: t("sign_in") }));
  return form;
}

// Shows the sign-in form until a supervisor or admin is signed in; then resolves with them.
export async function signedIn(t) {
  for (;;) {
    try {
      const me = await api("/auth/me");
      if (me.role !== "agent") return me;
      $("login-error").textContent = t("supervisors_only");
    } catch (error) {
      if (!(error instanceof SignedOut)) throw error;
    }
    if (!$("login-form")) $("login").append(loginForm(t));
    $("login").hidden = false;
    await new Promise((resolve) => {
      $("login-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = JSON.stringify(Object.fromEntries(new FormData(event.target)));
        const response = await fetch(API + "/auth/login", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body,
        });
        $("login-error").textContent = response.ok ? "" : t("sign_in_failed");
        resolve();
      }, { once: true });
    });
    $("login").hidden = true;
  }
}
