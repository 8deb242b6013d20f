// Announcements console page. No inline script or style (CSP: script-src 'self'); every text is
// set as a text node. Cookie sessions echo the CSRF token the shared layout puts in a meta tag.
"use strict";

const csrfToken = () => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") || "" : "";
};

const api = async (method, path, body) => {
  const headers = { "X-CSRF-Token": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, credentials: "same-origin", headers,
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
  if (!targets.length) {
    box.append(el("p", { class: "muted small" }, "Write a text and choose a target to see each post as it will be published."));
  }
  for (const t of targets) {
    const section = el("div", { class: "preview-target" }, el("h3", {}, `${t.target}`));
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
    catch (e) { showError(e.message); }
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
    el("td", {}, /^https?:\/\//.test(d.url || "") ? el("a", { href: d.url, rel: "noopener", target: "_blank" }, "open") : ""),
    el("td", {}, d.error || ""))));
  if (!deliveries.length) rows.replaceChildren(emptyRow(6, "No deliveries yet."));
  document.getElementById("deliveries").hidden = false;
}

const button = (label, onclick, kind = "") => el("button", { type: "button", class: `btn btn-small ${kind}`.trim(), onclick }, label);

// What the page offers follows what the API allows this user (the page's data-may-* attributes).
const may = (what) => { const page = document.getElementById("announcements"); return !page || page.dataset[what] === "yes"; };

function actions(a) {
  const id = encodeURIComponent(a.id);
  const out = [];
  const compose = may("mayCompose"), approve = may("mayApprove");
  if (a.state === "draft" && compose) out.push(button("Submit", () => act(`/api/announcements/${id}/submit`), "btn-primary"));
  if (a.state === "awaiting_approval" && approve) {
    out.push(button("Approve", () => act(`/api/announcements/${id}/approve`, { comment: prompt("Comment (optional)") || "" }), "btn-success"));
    out.push(button("Reject", () => { const c = prompt("What must change?"); if (c) act(`/api/announcements/${id}/reject`, { comment: c }); }, "btn-warn"));
  }
  if ((a.state === "scheduled" || a.state === "awaiting_approval") && compose) out.push(button("Withdraw", () => act(`/api/announcements/${id}/unschedule`)));
  out.push(button("Deliveries", () => showDeliveries(a.id), "btn-ghost"));
  return out;
}

const emptyRow = (columns, text) => el("tr", {}, el("td", { colspan: String(columns), class: "muted" }, text));

async function loadList() {
  const { announcements } = await api("GET", "/api/announcements");
  const rows = announcements.map((a) => el("tr", {},
    el("td", { class: "mono" }, a.id), el("td", { class: "clip" }, a.title || a.text.slice(0, 80)),
    el("td", {}, el("span", { class: `chip state state-${a.state}` }, a.state.replace(/_/g, " ")),
      a.review && a.review.comment ? el("div", { class: "muted small" }, `${a.review.decision}: ${a.review.comment}`) : ""),
    el("td", {}, a.local_publish_at ? `${a.local_publish_at} ${a.timezone}` : "on approval"),
    el("td", {}, `${a.progress.sent}/${a.progress.total} sent, ${a.progress.failed} failed, ${a.progress.uncertain} uncertain`),
    el("td", { class: "row-actions" }, ...actions(a))));
  document.getElementById("rows").replaceChildren(...(rows.length ? rows : [emptyRow(6, "No announcements yet.")]));
}

async function loadIncidents() {
  const { incidents } = await api("GET", "/api/incidents");
  const list = document.getElementById("incident-list");
  if (!incidents.length) { list.replaceChildren(el("p", { class: "muted small" }, "No incidents.")); return; }
  list.replaceChildren(...incidents.map((i) => el("div", { class: "part" },
    el("strong", {}, `${i.id} ${i.title} — ${i.state}`), el("div", {}, `keywords: ${i.keywords.join(", ")}; link: ${i.link}`),
    el("div", {}, i.conversations.length ? `${i.conversation_count} conversations: ${i.conversations.join(", ")}` : `${i.conversation_count} conversations`),
    i.state === "open" && may("mayApprove") ? button("Resolve all", async () => {
      const text = prompt("Closing message sent to every linked conversation");
      if (text) { try { await api("POST", `/api/incidents/${encodeURIComponent(i.id)}/resolve-all`, { closing_text: text }); } catch (e) { alert(e.message); } loadIncidents(); }
    }, "btn-warn") : "")));
}

function showError(message) {
  const box = document.getElementById("compose-error");
  if (box) box.textContent = message; else console.error(message);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compose-form");
  if (form) {
    form.addEventListener("input", () => schedulePreview(form));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("");
      try { await api("POST", "/api/announcements", draft(form)); form.reset(); renderPreview([]); await loadList(); }
      catch (e) { showError(e.message); }
    });
  }
  loadList().catch((e) => showError(e.message));
  loadIncidents().catch(() => {});
});
