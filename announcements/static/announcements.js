// Announcements console page. No inline script or style (CSP: script-src 'self').
"use strict";

const api = async (method, path, body) => {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : response.statusText);
  return data;
};

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
};

const split = (value) => value.split(",").map((s) => s.trim()).filter(Boolean);

function draft(form) {
  const f = new FormData(form);
  const targets = f.getAll("target").map((v) => { const [kind, account] = v.split("|"); return { kind, account }; });
  for (const input of form.querySelectorAll(".chat-ids")) {
    for (const id of split(input.value)) targets.push({ kind: "telegram_chat", account: input.dataset.account, chat_id: Number(id) });
  }
  const overrides = {};
  for (const p of ["x", "telegram", "mastodon"]) { const t = f.get(`override-${p}`); if (t && t.trim()) overrides[p] = t; }
  const body = { title: f.get("title") || "", text: f.get("text") || "", overrides, targets,
                 publish_at: f.get("publish_at") || null, timezone: f.get("timezone") || "UTC" };
  const keywords = split(f.get("incident-keywords") || "");
  if (keywords.length) {
    body.incident = { keywords, languages: split(f.get("incident-languages") || ""), link: f.get("incident-link") || null };
  }
  return body;
}

function renderPreview(targets) {
  const box = document.getElementById("preview");
  box.replaceChildren();
  for (const t of targets) {
    const section = el("div", {}, el("h3", {}, `${t.target}`));
    if (t.refused) section.append(el("p", { class: "refused" }, t.refused));
    t.parts.forEach((p, i) => section.append(el("div", { class: "part" }, p.text,
      el("div", { class: p.length > t.limit ? "count over" : "count" }, `part ${i + 1}/${t.parts.length}: ${p.length} / ${t.limit}`))));
    box.append(section);
  }
}

let timer = null;
function schedulePreview(form) {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const body = draft(form);
    if (!body.text.trim() || !body.targets.length) return renderPreview([]);
    try { renderPreview((await api("POST", "/api/announcements/preview", body)).targets); }
    catch (e) { document.getElementById("compose-error").textContent = e.message; }
  }, 250);
}

async function act(path, body) {
  try { await api("POST", path, body); } catch (e) { alert(e.message); }
  await loadList();
}

async function showDeliveries(id) {
  const { deliveries } = await api("GET", `/api/announcements/${encodeURIComponent(id)}/deliveries?limit=500`);
  const rows = document.getElementById("delivery-rows");
  rows.replaceChildren(...deliveries.map((d) => el("tr", {}, el("td", {}, d.target), el("td", {}, d.recipient || ""),
    el("td", {}, d.state), el("td", {}, d.attempts),
    el("td", {}, d.url ? el("a", { href: d.url, rel: "noopener", target: "_blank" }, "open") : ""),
    el("td", {}, d.error || ""))));
  document.getElementById("deliveries").hidden = false;
}

function actions(a) {
  const id = encodeURIComponent(a.id);
  const out = [];
  if (a.state === "draft") out.push(el("button", { onclick: () => act(`/api/announcements/${id}/submit`) }, "Submit"));
  if (a.state === "awaiting_approval") {
    out.push(el("button", { onclick: () => act(`/api/announcements/${id}/approve`, { comment: prompt("Comment (optional)") || "" }) }, "Approve"));
    out.push(el("button", { onclick: () => { const c = prompt("What must change?"); if (c) act(`/api/announcements/${id}/reject`, { comment: c }); } }, "Reject"));
  }
  if (a.state === "scheduled" || a.state === "awaiting_approval") out.push(el("button", { onclick: () => act(`/api/announcements/${id}/unschedule`) }, "Withdraw"));
  out.push(el("button", { onclick: () => showDeliveries(a.id) }, "Deliveries"));
  return out;
}

async function loadList() {
  const { announcements } = await api("GET", "/api/announcements");
  document.getElementById("rows").replaceChildren(...announcements.map((a) => el("tr", {},
    el("td", {}, a.id), el("td", {}, a.title || a.text.slice(0, 80)),
    el("td", {}, a.state + (a.review && a.review.comment ? ` (${a.review.decision}: ${a.review.comment})` : "")),
    el("td", {}, a.local_publish_at ? `${a.local_publish_at} ${a.timezone}` : "now"),
    el("td", {}, `${a.progress.sent}/${a.progress.total} sent, ${a.progress.failed} failed, ${a.progress.uncertain} uncertain`),
    el("td", {}, ...actions(a)))));
}

async function loadIncidents() {
  const { incidents } = await api("GET", "/api/incidents");
  document.getElementById("incident-list").replaceChildren(...incidents.map((i) => el("div", { class: "part" },
    el("strong", {}, `${i.id} ${i.title} — ${i.state}`), el("div", {}, `keywords: ${i.keywords.join(", ")}; link: ${i.link}`),
    el("div", {}, `${i.conversations.length} conversations: ${i.conversations.join(", ")}`),
    i.state === "open" ? el("button", { onclick: async () => {
      const text = prompt("Closing message sent to every linked conversation");
      if (text) { try { await api("POST", `/api/incidents/${encodeURIComponent(i.id)}/resolve-all`, { closing_text: text }); } catch (e) { alert(e.message); } loadIncidents(); }
    } }, "Resolve all") : "")));
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compose-form");
  form.addEventListener("input", () => schedulePreview(form));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    document.getElementById("compose-error").textContent = "";
    try { await api("POST", "/api/announcements", draft(form)); form.reset(); renderPreview([]); await loadList(); }
    catch (e) { document.getElementById("compose-error").textContent = e.message; }
  });
  loadList().catch((e) => { document.getElementById("compose-error").textContent = e.message; });
  loadIncidents().catch(() => {});
});
