// Helpline console: shared helpers. Customer text is only ever set with textContent.
"use strict";

window.Helpline = (() => {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  // An error answer's words: `detail` is a message, or (422) a list of {loc, msg, type}.
  function errorText(data, response) {
    const d = data && data.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((x) => (x && x.msg) || JSON.stringify(x)).join("; ");
    return d ? JSON.stringify(d) : response.statusText;
  }

  async function api(method, path, body, headers) {
    const init = { method, credentials: "same-origin", headers: Object.assign({ "X-CSRF-Token": csrf() }, headers || {}) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const detail = errorText(data, response);
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
      node.dir = "auto"; // customer text may be right-to-left or carry bidi controls: isolate it
    }
    return node;
  }

  function shortDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  // Settings the user chose (time zone, alerts) are kept on their account (console/users.py
  // Preferences), so they follow them from browser to browser; what this browser kept before is
  // only the fallback for a setting never chosen on the account.
  const chosen = (() => {
    try { return JSON.parse(document.body.dataset.preferences || "{}"); } catch (err) { return {}; }
  })();
  function kept(key) {
    try { return localStorage.getItem(key); } catch (err) { return null; }  // storage may be off
  }
  function keep(key, value, changes) {
    try { if (value) localStorage.setItem(key, value); else localStorage.removeItem(key); } catch (err) { /* the account has it */ }
    Object.assign(chosen, changes);
    return api("PATCH", "/api/v1/me/preferences", changes);
  }

  // Times in the viewer's own time zone (the browser's), named in the top bar; the server
  // renders UTC and every <time datetime> is rewritten here, live-built ones included.
  // A zone the user chose in the top bar overrides the browser's own.
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  function chosenZone() {
    const z = typeof chosen.zone === "string" ? chosen.zone : kept("helpline.zone");
    try {
      if (z) { new Intl.DateTimeFormat("en", { timeZone: z }); return z; }  // throws for a zone it does not know
    } catch (err) { /* a stale zone: the browser's */ }
    return null;
  }
  const zone = chosenZone() || browserZone;
  function clock(iso) {
    const d = new Date(iso);
    const ahead = d.getTime() - Date.now();
    const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone });
    if (Math.abs(ahead) < 86400000) return time;
    const day = d.toLocaleDateString("en", { month: "short", day: "2-digit", timeZone: zone });
    return ahead > 0 ? day + " " + time : day;  // a time to come (a snooze's end) needs its hour
  }
  function localTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach((node) => {
      if (!node.dateTime || node.dataset.local === node.dateTime) return;  // once: no observer loop
      node.dataset.local = node.dateTime;
      node.textContent = clock(node.dateTime);
      node.title = new Date(node.dateTime).toLocaleString("en-GB", { timeZone: zone, timeZoneName: "short" }) + " (" + zone + ")";
    });
  }

  // SLA clocks: green under 15 minutes, amber under an hour, red after.
  function tickClocks() {
    document.querySelectorAll(".sla[data-since]").forEach((node) => {
      const waited = (Date.now() - new Date(node.dataset.since).getTime()) / 1000;
      node.textContent = shortDuration(waited);
      node.classList.toggle("sla-warn", waited >= 900 && waited < 3600);
      node.classList.toggle("sla-late", waited >= 3600);
    });
    document.querySelectorAll(".handoff-clock[data-since] .ago").forEach((node) => {
      node.textContent = shortDuration((Date.now() - new Date(node.parentElement.dataset.since).getTime()) / 1000);
    });
  }

  // The wait clocks of a conversation summary (templates/_wait.html builds the same).
  function waitClocks(s) {
    const out = [];
    if (s.waiting_since) {
      const sla = el("span", "sla");
      sla.dataset.since = s.waiting_since;
      sla.title = "Customer waiting since " + s.waiting_since + (s.sla_due ? " · SLA due " + s.sla_due : "");
      out.push(sla);
    }
    if (s.handoff_at && s.conversation.status === "open") {
      const handoff = el("span", "handoff-clock", "handoff ");
      handoff.dataset.since = s.handoff_at;
      handoff.title = "Handed off by the bot at " + s.handoff_at;
      handoff.append(el("span", "ago"));
      out.push(handoff);
    }
    return out;
  }

  let toastTimer = null;
  function toast(message) {
    const node = document.getElementById("toast");
    if (!node) return;
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
  }

  function live(onConversations, onWatchers) {
    const status = document.getElementById("live-status");
    const source = new EventSource("/api/v1/events/stream");
    source.addEventListener("ready", () => { if (status) { status.classList.add("on"); status.classList.remove("off"); } });
    source.addEventListener("conversations", (event) => {
      try { onConversations(JSON.parse(event.data).conversations || []); } catch (err) { console.error(err); }
    });
    // Who views or types in a conversation (console/collision.py).
    if (onWatchers) source.addEventListener("watchers", (event) => {
      try { onWatchers(JSON.parse(event.data)); } catch (err) { console.error(err); }
    });
    // SLA warnings and breaches (sent to supervisors and admins only).
    source.addEventListener("notice", (event) => {
      try {
        const n = JSON.parse(event.data);
        const what = n.kind === "breach" ? "SLA breached" : "SLA warning";
        toast(what + ": " + String(n.target || "").replace("_", " ") + " on conversation " + n.conversation_id);
      } catch (err) { console.error(err); }
    });
    // A conversation newly assigned to me or escalated (console/alerts.py).
    source.addEventListener("alert", (event) => {
      try { alertUser(JSON.parse(event.data)); } catch (err) { console.error(err); }
    });
    // The session ended while the page was open (signed out elsewhere, account disabled).
    source.addEventListener("signed-out", () => {
      source.close();
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    });
    source.onerror = () => { if (status) { status.classList.add("off"); status.classList.remove("on"); } };
    return source;
  }

  // The unread count in the tab title, so a background tab shows there is news: "(3) Inbox · Helpline".
  const plainTitle = document.title;
  function setUnread(n) { document.title = (n > 0 ? "(" + n + ") " : "") + plainTitle; }

  function typing(event) {
    const t = event.target;
    if (t instanceof HTMLInputElement && ["checkbox", "radio"].includes(t.type)) return false;  // keys still act
    return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  }

  // --- alerts: always a toast; a desktop notification and a sound only when chosen (top bar) ---
  function preference(name) {
    const on = chosen["alert_" + name];
    return typeof on === "boolean" ? on : kept("helpline.alert." + name) === "1";
  }
  function setPreference(name, on) {
    keep("helpline.alert." + name, on ? "1" : "", { ["alert_" + name]: on })
      .catch((err) => toast("Could not keep the setting: " + err.message));
  }
  function beep() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    const audio = new Context();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.08;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.18);
    tone.onended = () => audio.close();
  }
  function alertUser(a) {
    const title = a.kind === "assigned" ? "Assigned to you" : "Escalated";
    const body = platformName(a.platform) + " conversation " + a.conversation_id + " · " + a.priority;
    toast(title + ": " + body);
    if (preference("desktop") && "Notification" in window && Notification.permission === "granted") {
      const note = new Notification("Helpline · " + title, { body, tag: a.kind + ":" + a.conversation_id });
      note.onclick = () => { window.focus(); window.location.assign("/c/" + encodeURIComponent(a.conversation_id)); };
    }
    if (preference("sound")) beep();
  }
  function alertSettings() {
    const desktop = document.getElementById("alert-desktop");
    const sound = document.getElementById("alert-sound");
    if (!desktop || !sound) return;
    desktop.checked = preference("desktop") && "Notification" in window && Notification.permission === "granted";
    sound.checked = preference("sound");
    desktop.addEventListener("change", async () => {
      if (!desktop.checked) { setPreference("desktop", false); return; }
      const allowed = "Notification" in window && (Notification.permission === "granted"
        || await Notification.requestPermission() === "granted");
      if (!allowed) { desktop.checked = false; toast("The browser does not allow notifications for this site"); return; }
      setPreference("desktop", true);
    });
    sound.addEventListener("change", () => { setPreference("sound", sound.checked); if (sound.checked) beep(); });
  }

  function pickZone(button) {
    const select = document.getElementById("zone-select");
    if (!select) return;
    if (!select.options.length) {
      const own = el("option", null, "Browser's zone (" + browserZone + ")");
      own.value = "";
      select.append(own);
      for (const z of Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [browserZone, "UTC"]) {
        const option = el("option", null, z);
        option.value = z;
        select.append(option);
      }
      select.addEventListener("change", async () => {
        try { await keep("helpline.zone", select.value, { zone: select.value }); }
        catch (err) { toast("Could not keep the zone: " + err.message); return; }
        location.reload();
      });
    }
    select.value = chosenZone() || "";
    button.hidden = true;
    select.hidden = false;
    select.focus();
  }

  function platformName(p) {
    return { x: "X", telegram: "Telegram", mastodon: "Mastodon", webchat: "Web chat" }[p] || (p.charAt(0).toUpperCase() + p.slice(1));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const tz = document.getElementById("viewer-zone");
    if (tz) {
      tz.textContent = zone;
      tz.hidden = false;
      tz.addEventListener("click", () => pickZone(tz));
    }
    document.querySelectorAll("input.viewer-tz").forEach((input) => { input.value = zone; });
    alertSettings();
    localTimes();
    new MutationObserver(() => localTimes()).observe(document.body, { childList: true, subtree: true });
    tickClocks();
    setInterval(tickClocks, 15000);
    const presence = document.getElementById("presence-select");
    if (presence) presence.addEventListener("change", () => presence.form.submit());
  });

  return { api, errorText, setUnread, el, shortDuration, clock, zone, tickClocks, waitClocks, toast, live, typing, platformName };
})();
