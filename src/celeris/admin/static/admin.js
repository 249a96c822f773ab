// celeris admin: progressive enhancement only; every page works without this script.
(function () {
  "use strict";
  // "select all" on the list page
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }
  // A foreign-key input or select with data-search gets a search box that asks the JSON endpoint.
  document.querySelectorAll("[data-search]").forEach(function (field) {
    var box = document.createElement("input");
    box.type = "search";
    box.placeholder = "Search…";
    box.setAttribute("aria-label", "Search for " + (field.labels && field.labels[0] ? field.labels[0].textContent.trim() : "a row"));
    box.setAttribute("aria-controls", field.id + "-results");
    var list = document.createElement("ul");
    list.id = field.id + "-results";
    list.className = "search-results";
    list.hidden = true;
    field.parentNode.insertBefore(box, field);
    field.parentNode.insertBefore(list, field.nextSibling);
    var timer = null;
    function choose(item) {
      if (field.tagName === "SELECT") {
        var option = Array.prototype.find.call(field.options, function (o) { return o.value === item.id; });
        if (!option) { option = new Option(item.text, item.id); field.add(option); }
        option.selected = true;
      } else if (field.dataset.multiple) {
        var ids = field.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
        if (ids.indexOf(item.id) < 0) { ids.push(item.id); }
        field.value = ids.join(", ");
      } else {
        field.value = item.id;
      }
      list.hidden = true;
      box.value = "";
      field.focus();
    }
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = box.value.trim();
        if (!q) { list.hidden = true; return; }
        fetch(field.dataset.search + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) {
            list.textContent = "";
            data.results.forEach(function (item) {
              var li = document.createElement("li");
              var button = document.createElement("button");
              button.type = "button";
              button.textContent = item.text + " (#" + item.id + ")";  // textContent: never HTML
              button.addEventListener("click", function () { choose(item); });
              li.appendChild(button);
              list.appendChild(li);
            });
            list.hidden = data.results.length === 0;
          });
      }, 200);
    });
  });
})();
