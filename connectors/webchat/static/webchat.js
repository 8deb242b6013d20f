/* Helpline web chat widget: no dependencies, rendered in a shadow root so the site's CSS cannot
   reach it. <script src="https://desk.example.com/webhooks/webchat/<account>/webchat.js" async
   data-user-id="..." data-user-hash="..."></script>. Live over a WebSocket, falling back to
   server-sent events + POST; resumes from the last event id it saw, so nothing is lost. */
(function () {
  "use strict";
  var tag = document.currentScript;
  if (!tag || window.__helplineWebchat) return;
  window.__helplineWebchat = true;
  var base = tag.src.replace(/\/webchat\.js(\?.*)?$/, "");
  var help = (tag.dataset.help || new URL(base).origin + "/help").replace(/\/$/, ""); // the help center
  var data = tag.dataset;
  var lang = (data.lang || document.documentElement.lang || navigator.language || "en").slice(0, 2);
  var T = {
    en: ["Chat with support", "Support", "Close", "Type your message", "Send", "You", "Support", "New conversation",
      "Attachments are not supported here: please describe it in text.", "Connecting…", "Offline: we will reconnect.", "Chat unavailable: ", "Articles that may help", "Your conversations", "Support is typing…", "Leave your e-mail address and we will send our answer there:", "E-mail address", "We will send our answer to "],
    ko: ["고객지원 채팅", "고객지원", "닫기", "메시지를 입력하세요", "보내기", "나", "고객지원", "새 대화",
      "여기서는 파일을 보낼 수 없습니다. 내용을 글로 적어 주세요.", "연결 중…", "오프라인: 다시 연결합니다.", "채팅을 사용할 수 없습니다: ", "도움이 될 만한 도움말", "내 대화", "상담원이 입력 중입니다…", "이메일 주소를 남겨 주시면 답변을 보내드립니다:", "이메일 주소", "답변을 보내드릴 주소: "],
    zh: ["联系客服", "客服", "关闭", "输入消息", "发送", "我", "客服", "新对话",
      "此处不支持附件，请用文字描述。", "正在连接…", "已离线：将自动重连。", "无法使用聊天：", "可能有帮助的文章", "我的对话", "客服正在输入…", "留下您的电子邮件地址，我们会把回复发送到那里：", "电子邮件地址", "我们会将回复发送至："],
    ja: ["サポートにチャット", "サポート", "閉じる", "メッセージを入力", "送信", "あなた", "サポート", "新しい会話",
      "ここではファイルを送れません。文章でお知らせください。", "接続中…", "オフライン：再接続します。", "チャットを利用できません：", "役に立ちそうな記事", "会話の履歴", "担当者が入力中…", "メールアドレスをご入力いただければ、回答をお送りします：", "メールアドレス", "回答の送信先："]
  };
  var t = T[lang] || T.en;
  var KEY = "helpline-webchat:" + base;
  var state = load();
  var mode = data.transport === "sse" || !window.WebSocket ? "sse" : "ws";
  var ws = null, sse = null, retry = 0, timer = 0, wsFailures = 0, ready = false, blocked = false;
  var outbox = [];

  function load() { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; } }
  function save() { try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ } }
  function el(name, attrs, text) {
    var n = document.createElement(name);
    for (var k in attrs) n.setAttribute(k, attrs[k]);
    if (text) n.textContent = text;
    return n;
  }
  function rid() {
    var a = new Uint8Array(12); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function newer(a, b) {
    if (!b || b === "0") return true;
    var x = a.split("-").map(Number), y = b.split("-").map(Number);
    return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
  }
  function post(path, body) {
    return fetch(base + path, { method: "POST", body: JSON.stringify(body), credentials: "omit",
      headers: { "content-type": "text/plain" } }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) { j.status = r.status; throw j; } return j; });
    });
  }

  // --- the view -------------------------------------------------------------------------------
  var host = el("div", { id: "helpline-webchat" });
  var root = host.attachShadow({ mode: "open" });
  var css = ":host{all:initial}*{box-sizing:border-box;font:15px/1.45 system-ui,sans-serif}" +
    ".launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;" +
    "background:#0b57d0;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
    ".panel{position:fixed;right:16px;bottom:76px;z-index:2147483000;width:min(380px,calc(100vw - 32px));" +
    "height:min(560px,calc(100vh - 100px));display:flex;flex-direction:column;background:#fff;color:#1b1f24;" +
    "border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}.panel[hidden]{display:none}" +
    "header{display:flex;align-items:center;gap:8px;padding:10px 12px;background:#0f172a;color:#fff}" +
    "h2{flex:1;margin:0;font-weight:600;color:#fff}header button{background:none;border:1px solid #fff6;color:#fff;" +
    "border-radius:6px;padding:4px 8px;cursor:pointer}.log{flex:1;overflow-y:auto;padding:12px;background:#f6f7f9}" +
    ".msg{max-width:85%;margin:6px 0;padding:8px 11px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".from-visitor{margin-left:auto;background:#0b57d0;color:#fff}.from-bot,.from-agent{background:#fff;border:1px solid #e2e8f0}" +
    ".from-agent{border-color:#0b57d0}.from-visitor a{color:#fff}.who{position:absolute;left:-9999px}.choices{display:flex;gap:6px;margin:4px 0 8px}" +
    ".choices button,form button{border:1px solid #0b57d0;background:#fff;color:#0b57d0;border-radius:6px;padding:6px 12px;cursor:pointer}" +
    ".history{margin:0;padding:6px 12px;list-style:none;border-bottom:1px solid #e2e8f0;max-height:40%;overflow-y:auto}" +
    ".history[hidden]{display:none}.history button{width:100%;text-align:left;background:none;border:0;padding:6px 0;" +
    "cursor:pointer;color:#0b57d0}.history [aria-current=true]{font-weight:600}.hints{padding:6px 12px;border-top:1px solid #e2e8f0;font-size:14px}.hints[hidden]{display:none}" +
    ".hints a{display:block;color:#0b57d0;padding:2px 0}.status{font-size:13px;color:#475569;padding:4px 12px;min-height:1.4em}.status.bad{color:#b91c1c}" +
    ".email-ask{flex-wrap:wrap;border:1px solid #e2e8f0;border-radius:8px;background:#fff;margin:6px 0}" +
    ".email-ask label{flex:1 1 100%}.email-ask input{display:block;width:100%;margin-top:4px;padding:8px;" +
    "border:1px solid #94a3b8;border-radius:8px}.email-left{font-size:13px;color:#475569;margin:6px 0}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e2e8f0}textarea{flex:1;resize:none;height:44px;" +
    "padding:8px;border:1px solid #94a3b8;border-radius:8px}form button{background:#0b57d0;color:#fff}" +
    "button:focus-visible,textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:1px}" +
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}" +
    ".launcher[aria-expanded=true]{display:none}}";
  if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    var sheet = new CSSStyleSheet(); sheet.replaceSync(css); root.adoptedStyleSheets = [sheet];
  } else { root.appendChild(el("style", {}, css)); }

  var launcher = el("button", { class: "launcher", "aria-expanded": "false", "aria-controls": "panel" }, t[0]);
  var panel = el("section", { id: "panel", class: "panel", role: "dialog", "aria-labelledby": "title", hidden: "" });
  var head = el("header");
  var fresh = el("button", { type: "button", class: "new" }, t[7]);
  var past = el("button", { type: "button", class: "past", "aria-expanded": "false", "aria-controls": "history" }, t[13]);
  var close = el("button", { type: "button", class: "close", "aria-label": t[2] }, "×");
  head.append(el("h2", { id: "title" }, t[1]), past, fresh, close);
  var history = el("ul", { id: "history", class: "history", "aria-label": t[13], hidden: "" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t[1], tabindex: "0" });
  var status = el("div", { class: "status", role: "status" });
  var form = el("form");
  var input = el("textarea", { "aria-label": t[3], placeholder: t[3], maxlength: "2000" });
  form.append(input, el("button", { type: "submit" }, t[4]));
  var hints = el("nav", { class: "hints", "aria-label": t[12], hidden: "" });
  panel.append(head, history, log, hints, status, form);
  root.append(panel, launcher);
  (document.body || document.documentElement).appendChild(host);

  function say(text, bad) { status.textContent = text || ""; status.className = "status" + (bad ? " bad" : ""); }
  function open(show) {
    panel.hidden = !show; launcher.setAttribute("aria-expanded", String(show));
    if (show) { input.focus(); log.scrollTop = log.scrollHeight; } else launcher.focus();
  }
  launcher.addEventListener("click", function () { open(panel.hidden); });
  close.addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") open(false); });
  function switchTo(chat) {
    disconnect(); state.chat = chat; state.after = "0"; save(); log.textContent = ""; history.hidden = true;
    past.setAttribute("aria-expanded", "false"); connect(); input.focus();
  }
  fresh.addEventListener("click", function () { switchTo(null); });
  past.addEventListener("click", function () { // the visitor's chats, from the server (all their devices)
    if (!history.hidden) { history.hidden = true; past.setAttribute("aria-expanded", "false"); return; }
    post("/session", { token: state.token, user_id: data.userId || null, user_hash: data.userHash || null }).then(function (s) {
      history.textContent = "";
      s.chats.forEach(function (c) {
        var b = el("button", { type: "button", "aria-current": String(c.chat === state.chat) },
          c.title + " · " + new Date(c.updated * 1000).toLocaleString(lang));
        b.addEventListener("click", function () { switchTo(c.chat); });
        var li = el("li"); li.appendChild(b); history.appendChild(li);
      });
      history.hidden = false; past.setAttribute("aria-expanded", "true");
    }, failed);
  });

  function askEmail() { // off hours: an address for the answer, stored on the visitor's contact
    var f = el("form", { class: "email-ask" }), label = el("label", {}, t[15]);
    var box = el("input", { type: "email", required: "", autocomplete: "email", maxlength: "254", "aria-label": t[16] });
    label.appendChild(box);
    f.append(label, el("button", { type: "submit" }, t[4]));
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      post("/email", { token: state.token, chat: state.chat, email: box.value.trim() }).then(function () { say(""); },
        function (err) { if (!failed(err)) say(err.error, true); });
    });
    return f;
  }
  function render(e) {
    if (e.type === "email") { // the address was left (on this or another device): no more asking
      Array.prototype.forEach.call(log.querySelectorAll(".email-ask"), function (f) { f.remove(); });
      log.appendChild(el("div", { class: "email-left", "data-id": e.id }, t[17] + e.email));
      log.scrollTop = log.scrollHeight;
      return;
    }
    var who = e.from === "visitor" ? t[5] : t[6];
    var bubble = el("div", { class: "msg from-" + e.from, "data-id": e.id });
    bubble.append(el("span", { class: "who" }, who + ": "), document.createTextNode(e.text || ""));
    (e.files || []).forEach(function (f, i) { // sent by e-mail: theirs to download
      bubble.append("\n\uD83D\uDCCE ");
      if (typeof f === "string") { bubble.append(f); return; } // an event from before downloads
      var a = el("a", { href: "#", class: "file" }, f.name);
      a.addEventListener("click", function (ev) { ev.preventDefault(); fetchFile(e.id, i, f.name); });
      bubble.append(a);
    });
    log.appendChild(bubble);
    if (e.buttons && e.buttons.length) {
      var row = el("div", { class: "choices" });
      e.buttons.forEach(function (b) {
        var btn = el("button", { type: "button" }, b.label);
        btn.addEventListener("click", function () { row.remove(); send(b.data); });
        row.appendChild(btn);
      });
      log.appendChild(row);
    }
    if (e.notice === "offhours" && !log.querySelector(".email-left")) log.appendChild(askEmail());
    log.scrollTop = log.scrollHeight;
  }
  function fetchFile(event, i, name) { // the token travels in the body, never in a URL
    fetch(base + "/file", { method: "POST", credentials: "omit", headers: { "content-type": "text/plain" },
      body: JSON.stringify({ token: state.token, chat: state.chat, event: event, file: i }) }).then(function (r) {
      if (!r.ok) return r.json().then(function (j) { j.status = r.status; throw j; });
      return r.blob();
    }).then(function (b) {
      var url = URL.createObjectURL(b), a = el("a", { href: url, download: name });
      root.appendChild(a); a.click(); a.remove(); setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    }, function (err) { if (err && err.status === 401) failed(err); else say((err && err.error) || t[10], true); });
  }
  var typingTimer = 0;
  function onEvent(e) {
    if (e.type === "typing") { // a passing signal: shown for a few seconds, never stored
      say(t[14]); clearTimeout(typingTimer); typingTimer = setTimeout(function () { say(""); }, 6000); return;
    }
    if ((e.type !== "message" && e.type !== "email") || !newer(e.id, state.after)) return; // each once, in order
    if (e.from === "agent" && status.textContent === t[14]) { clearTimeout(typingTimer); say(""); }
    if (e.client_id) drop(e.client_id);
    state.after = e.id; save(); render(e);
  }

  // --- the transports -------------------------------------------------------------------------
  function disconnect() {
    clearTimeout(timer);
    if (ws) { var w = ws; ws = null; w.onclose = null; w.close(); }
    if (sse) { sse.abort(); sse = null; }
  }
  function reconnect() {
    disconnect();
    if (blocked || !navigator.onLine) return;
    timer = setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++)) * (0.75 + Math.random() / 2));
  }
  function failed(err) { // true when handled here: a new session, a forgotten chat, or refused for good
    var code = err && err.status;
    if (code === 401) { ready = false; start(); return true; }
    if (code === 404) { state.chat = null; state.after = "0"; save(); return true; }
    if (code === 403) { blocked = true; disconnect(); say(t[11] + err.error, true); return true; }
    return false;
  }
  function connect() {
    disconnect();
    if (!ready || !state.chat) return;
    say(t[9]);
    if (mode === "ws") connectWs(); else connectSse();
  }
  function connectWs() {
    var opened = false, w = ws = new WebSocket(base.replace(/^http/, "ws") + "/ws");
    w.onopen = function () {
      opened = true; wsFailures = 0; retry = 0; say("");
      outbox.forEach(function (m) { m.inflight = false; });
      w.send(JSON.stringify({ type: "hello", token: state.token, chat: state.chat, after: state.after || "0" }));
      flush();
    };
    w.onmessage = function (m) {
      var e = JSON.parse(m.data);
      if (e.type === "error") { if (e.id) drop(e.id); if (!failed(e)) say(e.error, true); return; }
      onEvent(e);
    };
    w.onclose = function () {
      if (!opened && ++wsFailures >= 2) mode = "sse"; // a proxy that refuses WebSockets
      ws = null; reconnect();
    };
  }
  function connectSse() {
    var ctl = sse = new AbortController(), buffer = "";
    fetch(base + "/events", { method: "POST", signal: ctl.signal, credentials: "omit", headers: { "content-type": "text/plain" },
      body: JSON.stringify({ token: state.token, chat: state.chat, after: state.after || "0" }) }).then(function (r) {
      if (!r.ok) return r.json().then(function (j) { j.status = r.status; throw j; });
      retry = 0; say(""); flush();
      var reader = r.body.getReader(), dec = new TextDecoder();
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw null;
          buffer += dec.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n"); buffer = parts.pop();
          parts.forEach(function (block) {
            block.split("\n").forEach(function (line) { if (line.indexOf("data: ") === 0) onEvent(JSON.parse(line.slice(6))); });
          });
          return pump();
        });
      }
      return pump();
    }).catch(function (err) { if (sse === ctl && !failed(err)) { sse = null; reconnect(); } });
  }

  // --- deflection: before a chat starts, help-center articles for what the visitor is typing ----
  var hintTimer = 0, hintSeq = 0;
  function suggest() {
    var q = input.value.trim(), mine = ++hintSeq;
    if (state.chat || q.length < 3) { hints.hidden = true; return; }
    fetch(help + "/" + lang + "/suggest?q=" + encodeURIComponent(q), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (body) {
        if (mine !== hintSeq || state.chat) return;
        hints.textContent = "";
        hints.appendChild(el("strong", {}, t[12]));
        (body.suggestions || []).slice(0, 3).forEach(function (s) {
          hints.appendChild(el("a", { href: new URL(s.url, help).href, target: "_blank", rel: "noopener" }, s.title));
        });
        hints.hidden = hints.childNodes.length < 2;
      }, function () { hints.hidden = true; });
  }
  var typedAt = 0;
  input.addEventListener("input", function () {
    clearTimeout(hintTimer); hintTimer = setTimeout(suggest, 300);
    if (!state.chat || !input.value.trim() || Date.now() - typedAt < 2500) return; // the agents see the visitor typing
    typedAt = Date.now();
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "typing" }));
    else post("/typing", { token: state.token, chat: state.chat }).catch(function () {});
  });

  // --- sending --------------------------------------------------------------------------------
  function send(text) {
    text = text.trim();
    if (!text || blocked) return;
    hints.hidden = true; hintSeq++;
    outbox.push({ id: rid(), text: text }); flush();
  }
  function flush() {
    if (!ready || !outbox.length) return;
    if (ws && ws.readyState === 1 && state.chat) { // kept until its echo arrives; a resend is ingested once
      outbox.forEach(function (m) {
        if (!m.inflight) { m.inflight = true; ws.send(JSON.stringify({ type: "message", id: m.id, text: m.text })); }
      });
      return;
    }
    var m = outbox[0];
    if (flush.busy) return;
    flush.busy = true;
    post("/messages", { token: state.token, chat: state.chat || null, id: m.id, text: m.text }).then(function (r) {
      flush.busy = false; drop(m.id);
      if (state.chat !== r.chat) { state.chat = r.chat; state.after = "0"; save(); connect(); }
      flush();
    }, function (err) {
      flush.busy = false;
      if (err && err.status) { drop(m.id); if (!failed(err)) say(err.error, true); flush(); }
      else setTimeout(flush, 2000); // the network: the same id again, ingested once
    });
  }
  function drop(id) { outbox = outbox.filter(function (m) { return m.id !== id; }); }
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); input.value = ""; });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  function refuseFiles(e) {
    var files = (e.clipboardData || e.dataTransfer || {}).files;
    if (files && files.length) { e.preventDefault(); say(t[8], true); }
  }
  panel.addEventListener("paste", refuseFiles);
  panel.addEventListener("drop", refuseFiles);
  panel.addEventListener("dragover", function (e) { e.preventDefault(); });
  window.addEventListener("offline", function () { disconnect(); say(t[10], true); });
  window.addEventListener("online", function () { retry = 0; connect(); });

  // --- the session ----------------------------------------------------------------------------
  function start() {
    post("/session", { token: state.token || null, user_id: data.userId || null, user_hash: data.userHash || null })
      .then(function (s) {
        if (s.token !== state.token) { state = { token: s.token, after: "0" }; log.textContent = ""; }
        var ids = s.chats.map(function (c) { return c.chat; });
        if (state.chat && ids.indexOf(state.chat) < 0) { state.chat = null; state.after = "0"; }
        if (!state.chat && ids.length) { state.chat = ids[0]; state.after = "0"; }
        save(); ready = true; connect(); flush();
      }, function (err) { if (!failed(err)) reconnectSession(); });
  }
  function reconnectSession() { setTimeout(start, 3000); }
  state.after = "0"; // the log starts empty on each page: read the chat from its start
  start();
})();
