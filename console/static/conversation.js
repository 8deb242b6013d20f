// Conversation view: live timeline, composer (counter, canned responses, idempotent send), shortcuts.
"use strict";

(() => {
  const H = window.Helpline;
  const pane = document.getElementById("conv");
  if (!pane) return;
  const id = pane.dataset.id;
  const platform = pane.dataset.platform;
  const limit = Number(pane.dataset.limit);
  const timeline = document.getElementById("timeline");
  const composer = document.getElementById("composer");
  const text = document.getElementById("reply-text");
  const counter = document.getElementById("counter");
  const statusLine = document.getElementById("composer-status");
  const base = "/api/v1/conversations/" + encodeURIComponent(id);

  // --- character counting ----------------------------------------------------------------
  // The server counts as the platform does (its connector declares the rules: weighted counts,
  // UTF-16 units, an instance's own limit); the page keeps no copy of them.
  let countTimer = null;
  let countSeq = 0;
  function showCount(n, parts) {
    counter.textContent = n + " / " + limit + (parts > 1 ? " · " + parts + " posts" : "");
    counter.classList.toggle("over", n > limit);
  }
  async function fetchCount() {
    const seq = ++countSeq;
    try {
      const out = await H.api("POST", base + "/count", { text: text.value });
      if (seq === countSeq) showCount(out.length, out.parts);  // an older answer never overwrites a newer one
    } catch (err) {
      /* the counter is advisory: the reply itself is still checked when it is sent */
    }
  }
  function updateCounter() {
    if (!text || !counter) return;
    clearTimeout(countTimer);
    if (!text.value.trim()) { countSeq++; showCount(0, 0); return; }
    countTimer = setTimeout(fetchCount, 150);
  }

  // --- timeline ------------------------------------------------------------------------------
  function splitForm(it) {  // the same form as _item.html's: this message and the later ones split off
    const form = H.el("form", "split-form");
    form.method = "post";
    form.action = "/c/" + encodeURIComponent(it.conversation_id) + "/do/split";
    form.title = "This message and the later ones become a new conversation; mail answering them threads there";
    for (const [name, value] of [["csrf_token", document.querySelector('meta[name="csrf-token"]')?.content || ""],
      ["message_id", (it.data && it.data.message_id) || ""]]) {
      const input = H.el("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    const button = H.el("button", "btn btn-small", "Split off from here");
    button.type = "submit";
    form.append(button);
    return form;
  }

  function buildItem(it) {
    const li = H.el("li", "item item-" + it.kind + (it.current ? "" : " other-channel"));
    const time = H.el("time", null, H.clock(it.at));
    time.dateTime = it.at;
    time.title = it.at;
    if (it.kind === "event") {
      const line = H.el("div", "event-line");
      line.append(H.el("span", "event-type", (it.event || "").replace(/_/g, " ")), H.el("span", "event-reason", it.reason),
        H.el("span", "event-actor", it.author), time);
      li.append(line);
      return li;
    }
    const bubble = H.el("div", "bubble");
    const head = H.el("div", "bubble-head");
    head.append(H.el("span", "bubble-author", it.author));
    if (!it.current) {
      const link = H.el("a", "muted small", "other conversation");
      link.href = "/c/" + encodeURIComponent(it.conversation_id);
      head.append(H.el("span", "badge platform-" + it.platform, H.platformName(it.platform)), link);
    }
    head.append(it.kind === "note" ? H.el("span", "vis vis-internal", "NOTE · team only")
      : H.el("span", "vis vis-" + it.visibility, it.visibility.toUpperCase()), time);
    bubble.append(head);
    const files = (it.data && it.data.attachments) || [];
    if (it.text || !files.length) bubble.append(H.el("div", "bubble-text", it.text || "(text not recorded)"));
    if (it.kind === "message" && it.current && pane.dataset.maySplit && it.data.message_id !== firstMessage) {
      bubble.append(splitForm(it));  // splitting from the first message on would leave nothing behind
    }
    if (files.length) {  // images as thumbnails, audio and video with a player, anything else as a download
      const ul = H.el("ul", "attachments");
      for (const a of files) {
        const url = "/api/v1/conversations/" + encodeURIComponent(it.conversation_id) + "/attachments/" + encodeURIComponent(a.id);
        if (a.image) {  // a raster image the server serves inline: a thumbnail
          const li = H.el("li", "thumb-item");
          const link = H.el("a");
          link.href = url;
          link.target = "_blank";
          link.rel = "noopener";
          const img = H.el("img", "thumb");
          img.src = url;
          img.alt = a.name;
          link.append(img);
          li.append(link);
          ul.append(li);
          continue;
        }
        const link = H.el("a", null, a.name);
        link.href = url;
        link.setAttribute("download", "");
        const li = H.el("li", a.audio ? "audio-item" : a.video ? "video-item" : null);
        if (a.audio || a.video) {  // Ogg, MP3 or MP4 the server serves with its type: a player, and the download
          const player = H.el(a.audio ? "audio" : "video");
          player.controls = true;
          player.preload = a.audio ? "none" : "metadata";
          player.src = url;
          player.setAttribute("aria-label", a.kind + ": " + a.name);
          li.append(player, " ");
        }
        li.append(link, " ", H.el("span", "muted small", a.size + " bytes"));
        ul.append(li);
      }
      bubble.append(ul);
    }
    if (it.kind === "reply") {
      const parts = [it.delivery || "unknown"];
      if (it.platform_message_ids.length) parts.push(it.platform_message_ids.join(", "));
      if (it.error) parts.push(it.error);
      const d = H.el("div", "delivery delivery-" + (it.delivery || "unknown"), parts.join(" · "));
      d.dataset.reply = it.reply_id || "";
      bubble.append(d);
    }
    li.append(bubble);
    return li;
  }

  // Laid out as console/timeline_view.py does: events in a row become one expandable line, each of
  // the person's other conversations one collapsed block where it began.
  function entries(items) {
    const out = [];
    const others = new Map();
    let run = [];
    const closeRun = () => {
      if (run.length > 1) out.push({ kind: "events", items: run });
      else out.push(...run);
      run = [];
    };
    for (const it of items) {
      if (!it.current) {
        let block = others.get(it.conversation_id);
        if (!block) {
          closeRun();
          block = { kind: "other", conversation_id: it.conversation_id, platform: it.platform, items: [] };
          others.set(it.conversation_id, block);
          out.push(block);
        }
        block.items.push(it);
      } else if (it.kind === "event") run.push(it);
      else { closeRun(); out.push(it); }
    }
    closeRun();
    return out;
  }

  function timeEl(at) {
    const time = H.el("time", null, H.clock(at));
    time.dateTime = at;
    time.title = at;
    return time;
  }

  function buildGroup(e, open) {
    const li = H.el("li", "item item-" + e.kind);
    li.dataset.key = e.kind === "events" ? "events:" + e.items[0].at : "other:" + e.conversation_id;
    const details = H.el("details");
    details.open = open.has(li.dataset.key);
    const summary = H.el("summary");
    const list = H.el("ol", e.kind === "events" ? "event-run" : "other-items");
    list.append(...e.items.map(buildItem));
    if (e.kind === "events") {
      summary.className = "event-line";
      const types = [...new Set(e.items.map((it) => (it.event || "").replace(/_/g, " ")))];
      summary.append(H.el("span", "event-type", e.items.length + " events"), " ",
        H.el("span", "event-reason", types.join(", ")), " ", timeEl(e.items[e.items.length - 1].at));
      details.append(summary, list);
    } else {
      const messages = e.items.filter((it) => it.kind === "message").length;
      const replies = e.items.filter((it) => it.kind === "reply").length;
      let preview = (e.items.find((it) => it.kind === "message" && it.text) || { text: "" }).text;
      if (preview.length > 80) preview = preview.slice(0, 79) + "…";
      const bdi = H.el("bdi", "other-preview", preview);
      bdi.dir = "auto";
      summary.append(H.el("span", "badge platform-" + e.platform, H.platformName(e.platform)), " ",
        H.el("span", "other-title", "Other conversation"), " ",
        H.el("span", "other-counts", messages + (messages === 1 ? " message, " : " messages, ") + replies + (replies === 1 ? " reply" : " replies")),
        " ", timeEl(e.items[0].at), " – ", timeEl(e.items[e.items.length - 1].at), " ", bdi);
      const p = H.el("p", "small");
      const link = H.el("a", null, "Open that conversation");
      link.href = "/c/" + encodeURIComponent(e.conversation_id);
      p.append(link);
      details.append(summary, p, list);
    }
    li.append(details);
    return li;
  }

  let firstMessage = null;  // the conversation's first message: not offered for splitting
  function layout(items) {
    firstMessage = (items.find((it) => it.kind === "message" && it.current) || { data: {} }).data.message_id;
    const open = new Set(Array.from(timeline.querySelectorAll("li[data-key] > details[open]"), (d) => d.parentElement.dataset.key));
    return entries(items).map((e) => (e.kind === "events" || e.kind === "other" ? buildGroup(e, open) : buildItem(e)));
  }

  let polling = null;
  async function refresh() {
    try {
      const d = await H.api("GET", base);
      const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 60;
      timeline.replaceChildren(...layout(d.timeline));
      if (atBottom) timeline.scrollTop = timeline.scrollHeight;
      const c = d.summary.conversation;
      const status = document.getElementById("head-status");
      if (status) { status.textContent = c.status; status.className = "chip status-" + c.status; }
      const prio = document.getElementById("head-priority");
      if (prio) { prio.textContent = c.priority; prio.className = "chip prio prio-" + c.priority; }
      const wait = document.getElementById("head-wait");
      if (wait) { wait.replaceChildren(...H.waitClocks(d.summary)); H.tickClocks(); }
      const assignee = document.getElementById("fact-assignee");
      if (assignee) assignee.textContent = c.assignee || c.handler || "—";
      H.api("POST", base + "/read").catch(() => {});
      // Until the sender has settled every reply, look again shortly (the sender does not publish).
      const unsettled = d.timeline.some((it) => it.kind === "reply" && (it.delivery === "queued" || it.delivery === "sending"));
      clearTimeout(polling);
      if (unsettled) polling = setTimeout(refresh, 1500);
    } catch (err) {
      H.toast("Could not refresh: " + err.message);
    }
  }

  // --- sending -------------------------------------------------------------------------------
  async function send(kind) {
    const value = text.value.trim();
    if (!value) return;
    const keyField = document.getElementById("idempotency-key");
    const buttons = composer.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    statusLine.textContent = kind === "note" ? "Saving note…" : "Queuing reply…";
    try {
      if (kind === "note") {
        await H.api("POST", base + "/notes", { text: value });
        statusLine.textContent = "Note added";
      } else {
        const out = await replyChecked(value, keyField.value, await uploadChosen());
        if (out === null) { statusLine.textContent = "Not sent"; return; }
        statusLine.textContent = "Reply " + out.delivery + (out.duplicate ? " (already sent)" : "");
        keyField.value = crypto.randomUUID();  // the next reply is a new one
        cannedUsed = null;
      }
      text.value = "";
      if (fileInput) fileInput.value = "";
      lastTypingPing = 0;
      watch(false);  // no longer typing
      updateCounter();
      await refresh();
    } catch (err) {
      statusLine.textContent = "";
      H.toast(err.message);  // the key is kept: retrying the same reply cannot post it twice
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // --- collision: who else is here, and a confirmation when someone replied meanwhile ---------
  let openedAt = pane.dataset.openedAt;
  // --- an image with the reply, where the platform takes one (capabilities) -----------------
  const fileInput = document.getElementById("reply-file");
  async function uploadChosen() {
    if (!fileInput || !fileInput.files.length) return [];
    const form = new FormData();
    form.append("file", fileInput.files[0]);
    const response = await fetch(base + "/files", { method: "POST", body: form, credentials: "same-origin",
      headers: { "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content } });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(H.errorText(data, response));
    return [data];
  }

  async function replyChecked(value, key, attachments) {
    try {
      return await H.api("POST", base + "/reply", { text: value, opened_at: openedAt, attachments, canned_id: cannedUsed },
        { "Idempotency-Key": key });
    } catch (err) {
      if (err.status !== 409 || !err.message.includes("replied since you opened")) throw err;
      if (!window.confirm(err.message)) return null;
      openedAt = new Date().toISOString();  // seen now: the next reply is checked from here
      return await H.api("POST", base + "/reply", { text: value, opened_at: openedAt, confirm: true, attachments,
        canned_id: cannedUsed },
        { "Idempotency-Key": key });
    }
  }

  const me = document.body.dataset.user;
  const collisionLine = document.getElementById("collision");
  let typists = {};  // username -> { name, until }: a typing mark lasts 6 s unless renewed
  let viewers = [];
  function showWatchers() {
    const now = Date.now();
    const typing = Object.values(typists).filter((t) => t.until > now).map((t) => t.name);
    const viewing = viewers.filter((v) => !(typists[v.username] && typists[v.username].until > now)).map((v) => v.name);
    const parts = [];
    if (typing.length) parts.push(typing.join(", ") + (typing.length > 1 ? " are" : " is") + " typing…");
    if (viewing.length) parts.push(viewing.join(", ") + (viewing.length > 1 ? " are" : " is") + " viewing");
    collisionLine.textContent = parts.join(" · ");
    collisionLine.classList.toggle("collision-typing", typing.length > 0);
    collisionLine.hidden = parts.length === 0;
  }
  function onWatchers(w) {
    if (!w || w.conversation_id !== id || !collisionLine) return;
    viewers = w.viewing.filter((v) => v.username !== me);
    typists = {};
    for (const t of w.typing) if (t.username !== me) typists[t.username] = { name: t.name, until: Date.now() + 6000 };
    showWatchers();
  }
  let lastTypingPing = 0;
  function watch(typing) {
    if (typing) lastTypingPing = Date.now();
    H.api("POST", base + "/watching", { typing, replying: typing && mode() === "reply" }).then(onWatchers).catch(() => {});
  }
  watch(false);
  setInterval(() => watch(Date.now() - lastTypingPing < 6000 && text && text.value !== ""), 10000);
  setInterval(() => { if (collisionLine) showWatchers(); }, 1000);
  if (text) text.addEventListener("input", () => { if (Date.now() - lastTypingPing > 2000) watch(true); });
  window.addEventListener("pagehide", () => {
    fetch(base + "/watching", { method: "DELETE", keepalive: true, credentials: "same-origin",
      headers: { "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content } });
  });

  // --- canned responses ----------------------------------------------------------------------
  const picker = document.getElementById("canned-picker");
  const filter = document.getElementById("canned-filter");
  const list = document.getElementById("canned-list");
  let canned = null;
  let cannedUsed = null;  // the canned response the reply started from (it may name an article)
  let active = 0;

  function shown() { return Array.from(list.querySelectorAll("li")); }
  function renderCanned() {
    const q = filter.value.toLowerCase();
    const matches = canned.filter((c) => (c.title + " " + c.text).toLowerCase().includes(q));
    list.replaceChildren(...matches.map((c, i) => {
      const li = H.el("li", i === active ? "active" : "");
      li.setAttribute("role", "option");
      li.append(H.el("div", "canned-title", c.title + " · " + c.language), H.el("div", "canned-text", c.text));
      li.addEventListener("mousedown", (e) => { e.preventDefault(); insert(c); });
      return li;
    }));
    if (!matches.length) list.append(H.el("li", "muted", "No canned response matches"));
    return matches;
  }
  let matches = [];
  async function openPicker() {
    if (!picker) return;
    if (canned === null) {
      try { canned = await H.api("GET", "/api/v1/canned/rendered/" + encodeURIComponent(id)); } catch (err) { H.toast(err.message); return; }
    }
    picker.hidden = false;
    filter.value = "";
    active = 0;
    matches = renderCanned();
    filter.focus();
  }
  function closePicker() { if (picker) picker.hidden = true; text.focus(); }
  function insert(c) {
    text.value = text.value ? text.value.replace(/\/$/, "") + c.text : c.text;
    cannedUsed = c.id;
    closePicker();
    updateCounter();
  }
  if (filter) {
    filter.addEventListener("input", () => { active = 0; matches = renderCanned(); });
    filter.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { active = Math.min(active + 1, matches.length - 1); matches = renderCanned(); }
      else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); matches = renderCanned(); }
      else if (e.key === "Enter") { if (matches[active]) insert(matches[active]); }
      else if (e.key === "Escape") closePicker();
      else return;
      e.preventDefault();
    });
  }

  // --- composer modes: a reply goes to the customer, a note stays with the team -------------
  function mode() { return document.getElementById("mode-note")?.checked ? "note" : "reply"; }
  function setMode(m) {
    if (!composer) return;
    document.getElementById("mode-" + m).checked = true;
    composer.classList.toggle("mode-note", m === "note");
    composer.classList.toggle("mode-reply", m === "reply");
    text.placeholder = m === "note" ? "Internal note — only your team sees it, never the customer" : composer.dataset.replyPlaceholder;
    document.getElementById("send-btn").textContent = m === "note" ? "Add note" : composer.dataset.replyLabel;
  }

  // --- resolving with undo: nothing (and no survey) goes out until the 5 seconds are over ----
  const UNDO_S = 5;
  const undoBar = document.getElementById("undo-bar");
  let resolving = null;
  function commitResolve(keepalive) {
    clearInterval(resolving.tick);
    resolving = null;
    undoBar.hidden = true;
    const init = { method: "POST", credentials: "same-origin", keepalive,
      headers: { "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content, "Content-Type": "application/json" },
      body: JSON.stringify({ reason: "resolved by the agent" }) };
    return fetch(base + "/resolve", init);
  }
  function startResolve() {
    if (resolving || !document.getElementById("resolve-form") || !undoBar) return;
    let left = UNDO_S;
    document.getElementById("undo-seconds").textContent = String(left);
    undoBar.hidden = false;
    resolving = { tick: setInterval(async () => {
      left -= 1;
      document.getElementById("undo-seconds").textContent = String(Math.max(left, 0));
      if (left > 0) return;
      const response = await commitResolve(false);
      if (response.ok) location.reload(); else H.toast("Could not resolve: " + response.statusText);
    }, 1000) };
    document.getElementById("undo-btn").focus();
  }
  function undoResolve() {
    if (!resolving) return;
    clearInterval(resolving.tick);
    resolving = null;
    undoBar.hidden = true;
    H.toast("Not resolved");
  }
  document.getElementById("undo-btn")?.addEventListener("click", undoResolve);
  document.getElementById("resolve-form")?.addEventListener("submit", (event) => { event.preventDefault(); startResolve(); });
  window.addEventListener("pagehide", () => { if (resolving) commitResolve(true); });  // leaving means "do it"

  // --- wiring --------------------------------------------------------------------------------
  if (composer) {
    composer.addEventListener("submit", (event) => {
      event.preventDefault();
      send(mode());
    });
    composer.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", () => setMode(mode())));
    text.addEventListener("input", updateCounter);
    text.addEventListener("keydown", (e) => {
      if (e.key === "/" && text.value === "") { e.preventDefault(); openPicker(); }
      else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(mode()); }
      else if (e.key === "Escape") text.blur();
    });
    document.addEventListener("keydown", (e) => {  // also while typing: switching never sends
      if (e.key.toLowerCase() === "m" && e.shiftKey && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        setMode(mode() === "note" ? "reply" : "note");
      }
    });
    setMode(mode());
    updateCounter();
  }

  function neighbour(step) {
    const order = JSON.parse(sessionStorage.getItem("hl.order") || "[]");
    const i = order.indexOf(id);
    const next = order[i + step];
    if (i >= 0 && next) location.href = "/c/" + encodeURIComponent(next);
  }

  document.addEventListener("keydown", (event) => {
    if (H.typing(event) || event.metaKey || event.ctrlKey || event.altKey) return;
    if (event.key === "r" && text) { setMode("reply"); text.focus(); }
    else if (event.key === "n" && text) { setMode("note"); text.focus(); }
    else if (event.key === "/" && text) { text.focus(); openPicker(); }
    else if (event.key === "e") startResolve();
    else if (event.key === "Escape" && resolving) undoResolve();
    else if (event.key === "a") document.getElementById("assign-me-form")?.requestSubmit();
    else if (event.key === "j") neighbour(1);
    else if (event.key === "k") neighbour(-1);
    else if (event.key === "u") location.href = "/";
    else return;
    event.preventDefault();
  });

  timeline.scrollTop = timeline.scrollHeight;
  H.live((ids) => { if (ids.includes(id)) refresh(); }, onWatchers);
  if (timeline.querySelector(".delivery-queued, .delivery-sending")) polling = setTimeout(refresh, 1500);
})();
