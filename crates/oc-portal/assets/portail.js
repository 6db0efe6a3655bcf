// Open Collectivités portal: optional enhancements. Every page works without this file.
// Search boxes with data-suggest="1" show suggestions from /api/suggestions as links.
(function () {
  "use strict";
  function attach(input) {
    var form = input.form;
    var list = form && form.querySelector("ul.suggestions");
    if (!list) return;
    var timer = null, last = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q === last) return;
        last = q;
        if (q.length < 2) { list.hidden = true; list.textContent = ""; return; }
        fetch("/api/suggestions?q=" + encodeURIComponent(q))
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (items) {
            if (q !== last) return;
            list.textContent = "";
            items.forEach(function (it) {
              var li = document.createElement("li");
              var a = document.createElement("a");
              a.href = it.url;
              a.textContent = it.nom + " — " + it.detail + (it.note ? " (" + it.note + ")" : "");
              li.appendChild(a);
              list.appendChild(li);
            });
            list.hidden = items.length === 0;
          })
          .catch(function () { list.hidden = true; });
      }, 120);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" && !list.hidden) {
        var first = list.querySelector("a");
        if (first) { e.preventDefault(); first.focus(); }
      } else if (e.key === "Escape") { list.hidden = true; }
    });
  }
  document.querySelectorAll("input[data-suggest]").forEach(attach);
})();
