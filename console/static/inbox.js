// Inbox: live list refresh, j/k selection, quick actions on the selected row (resolving is done
// in the open conversation only, where it can be undone).
"use strict";

(() => {
  const H = window.Helpline;
  const rows = document.getElementById("rows");
  if (!rows) return;
  let selected = 0;

  function items() { return Array.from(rows.querySelectorAll(".row")); }

  function remember() {
    sessionStorage.setItem("hl.order", JSON.stringify(items().map((r) => r.dataset.id)));
  }

  function select(index) {
    const list = items();
    if (!list.length) return;
    selected = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((r, i) => r.classList.toggle("selected", i === selected));
    list[selected].scrollIntoView({ block: "nearest" });
  }

  function buildRow(s) {
    const c = s.conversation;
    const li = H.el("li", "row prio-" + c.priority + (s.unread ? " unread" : ""));
    li.dataset.id = c.id;
    if (rows.classList.contains("bulk")) li.append(rowCheck(c.id));
    const a = H.el("a", "row-link");
    a.href = "/c/" + encodeURIComponent(c.id);
    a.append(H.el("span", "row-unread"));
    const main = H.el("span", "row-main");
    const top = H.el("span", "row-top");
    top.append(H.el("span", "badge platform-" + c.platform, H.platformName(c.platform)),
      H.el("span", "vis vis-" + s.visibility, s.visibility.toUpperCase()),
      H.el("span", "row-name", s.contact_name || s.contact_handle || c.contact_id),
      H.el("span", "row-handle", s.contact_handle));
    const meta = H.el("span", "row-meta");
    meta.append(H.el("span", "chip prio prio-" + c.priority, c.priority), H.el("span", "chip status-" + c.status, c.status));
    if (c.language) meta.append(H.el("span", "chip lang", c.language));
    c.labels.forEach((l) => meta.append(H.el("span", "chip label" + (l === "escalated" ? " label-escalated" : ""), l)));
    if (s.failed_sends) {
      const chip = H.el("span", "chip send-failed", "send failed");
      chip.title = "A reply was refused by the platform: open the conversation to see why";
      meta.append(chip);
    }
    if (s.uncertain_sends) {
      const chip = H.el("span", "chip send-uncertain", "maybe sent");
      chip.title = "A reply may or may not have been posted: check the platform before resending";
      meta.append(chip);
    }
    meta.append(H.el("span", "row-who", c.assignee || c.handler || (c.team ? "team " + c.team : "unassigned")));
    main.append(top, H.el("span", "row-preview", s.preview), meta);
    const side = H.el("span", "row-side");
    side.append(...H.waitClocks(s));
    const time = H.el("time", "row-time", H.clock(c.updated_at));
    time.dateTime = c.updated_at;
    side.append(time);
    a.append(main, side);
    li.append(a);
    return li;
  }

  // --- bulk selection: the same checks as one by one (POST /api/v1/conversations/bulk) -------
  const chosen = new Set();
  function rowCheck(id) {  // templates/_row.html renders the same checkbox
    const box = H.el("input", "row-check");
    box.type = "checkbox";
    box.value = id;
    box.checked = chosen.has(id);
    box.setAttribute("aria-label", "Select this conversation");
    return box;
  }
  function showChosen() {
    const bar = document.getElementById("bulk-bar");
    if (!bar) return;
    bar.hidden = chosen.size === 0;
    document.getElementById("bulk-count").textContent = chosen.size + " selected";
  }
  rows.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.classList.contains("row-check")) return;
    if (box.checked) chosen.add(box.value); else chosen.delete(box.value);
    showChosen();
  });
  function toggleSelected() {
    const box = items()[selected]?.querySelector(".row-check");
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }
  async function bulk(action) {
    const body = { ids: Array.from(chosen), action };
    if (action === "label") body.label = document.getElementById("bulk-label").value.trim();
    try {
      const out = await H.api("POST", "/api/v1/conversations/bulk", body);
      const failed = out.results.filter((r) => !r.ok);
      H.toast((out.results.length - failed.length) + " done" + (failed.length ? ", " + failed.length + " refused: " + failed[0].error : ""));
      chosen.clear();
      showChosen();
      refresh();
    } catch (err) {
      H.toast(err.message);
    }
  }
  document.querySelectorAll("[data-bulk]").forEach((b) => b.addEventListener("click", () => bulk(b.dataset.bulk)));
  document.getElementById("bulk-clear")?.addEventListener("click", () => {
    chosen.clear();
    rows.querySelectorAll(".row-check").forEach((b) => { b.checked = false; });
    showChosen();
  });

  async function refresh() {
    const params = new URLSearchParams(rows.dataset.query || "");
    const query = new URLSearchParams({ counts: "true", limit: "50" });
    // the page's own cursor too: a live update refreshes the page shown, never snaps back to the first
    for (const key of ["view", "status", "platform", "priority", "team", "language", "label", "q", "sort", "cursor"]) {
      const value = params.get(key);
      if (value) query.set(key, value);
    }
    if (params.get("agent")) query.set("assignee", params.get("agent"));
    if (!params.has("status")) query.set("status", "open");
    if (!params.get("view")) query.set("view", document.querySelector(".view.active")?.dataset.view || "all");
    try {
      const page = await H.api("GET", "/api/v1/conversations?" + query.toString());
      const current = items()[selected]?.dataset.id;
      rows.replaceChildren(...page.items.map(buildRow));
      document.getElementById("empty").hidden = page.items.length > 0;
      for (const [view, n] of Object.entries(page.counts || {})) {
        const node = document.querySelector('[data-count="' + view + '"]');
        if (node) node.textContent = String(n);
      }
      const again = items().findIndex((r) => r.dataset.id === current);
      select(again >= 0 ? again : 0);
      H.tickClocks();
      remember();
      showUnread();
    } catch (err) {
      H.toast("Could not refresh: " + err.message);
    }
  }

  async function act(path, body, done) {
    const row = items()[selected];
    if (!row) return;
    try {
      await H.api("POST", "/api/v1/conversations/" + encodeURIComponent(row.dataset.id) + path, body);
      H.toast(done);
      refresh();
    } catch (err) {
      H.toast(err.message);
    }
  }

  // Enter on a focused link or button (the skip link, a view) is that control's, not the shortcut's.
  function onControl(event) {
    return event.target instanceof Element && event.target.closest("a, button, summary") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (H.typing(event) || event.metaKey || event.ctrlKey || event.altKey) return;
    if (event.key === "j") select(selected + 1);
    else if (event.key === "k") select(selected - 1);
    else if (event.key === "o" || (event.key === "Enter" && !onControl(event))) { const r = items()[selected]; if (r) location.href = "/c/" + r.dataset.id; }
    else if (event.key === "a") act("/assign", {}, "Assigned to you");
    else if (event.key === "x") toggleSelected();
    else if (event.key === "/") { event.preventDefault(); document.querySelector('input[name="q"]')?.focus(); }
    else return;
    event.preventDefault();
  });

  function showUnread() { H.setUnread(rows.querySelectorAll(".row.unread").length); }

  select(0);
  remember();
  showUnread();
  let pending = null;
  H.live(() => {  // coalesce bursts: one refresh per 300 ms
    clearTimeout(pending);
    pending = setTimeout(refresh, 300);
  });
})();
