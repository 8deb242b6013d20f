// Suggestions as the visitor types (the search form works without this script).
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  if (!input || !list || !window.fetch) return;
  var timer = 0, seq = 0, active = -1;

  function clear() { list.hidden = true; list.textContent = ""; active = -1; input.removeAttribute("aria-activedescendant"); }

  function show(items) {
    list.textContent = "";
    items.forEach(function (s, i) {
      var li = document.createElement("li"), a = document.createElement("a");
      li.id = "suggestion-" + i; li.setAttribute("role", "option"); li.setAttribute("aria-selected", "false");
      a.href = s.url; a.textContent = s.title; li.appendChild(a); list.appendChild(li);
    });
    list.hidden = items.length === 0; active = -1;
  }

  function fetchSuggestions() {
    var q = input.value.trim(), mine = ++seq;
    if (q.length < 2) { clear(); return; }
    fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (body) { if (mine === seq) show(body.suggestions || []); })
      .catch(clear);
  }

  function move(step) {
    var items = list.querySelectorAll("li");
    if (!items.length) return;
    if (active >= 0) items[active].setAttribute("aria-selected", "false");
    active = (active + step + items.length) % items.length;
    items[active].setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", items[active].id);
  }

  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(fetchSuggestions, 150); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown") { e.preventDefault(); move(1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); move(-1); }
    else if (e.key === "Escape") { clear(); }
    else if (e.key === "Enter" && active >= 0) {
      e.preventDefault(); window.location.href = list.querySelectorAll("a")[active].href;
    }
  });
  input.addEventListener("blur", function () { setTimeout(clear, 200); });
})();
