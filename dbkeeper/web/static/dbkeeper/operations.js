/* dbkeeper: the operations page. Lists the user's running and finished
   operations with their progress and latest events, refreshes while any is
   running, and cancels a running one after a confirmation. */
(function () {
  "use strict";

  var d = window.dbkeeper;
  var REFRESH_MS = 2000;
  var body = document.querySelector("#operations tbody");
  var alertBox = document.getElementById("operations-alert");
  var timer = null;

  function cell(row, content) {
    var td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content); else td.textContent = content == null ? "" : String(content);
    row.appendChild(td);
    return td;
  }

  function progressCell(op) {
    var wrap = document.createElement("div");
    var bar = document.createElement("div");
    bar.className = "bar small";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(Math.round(op.percent)));
    var fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.inlineSize = Math.max(0, Math.min(100, op.percent)) + "%";
    bar.appendChild(fill);
    wrap.appendChild(bar);
    var text = document.createElement("p");
    text.className = "message";
    text.textContent = d.number(op.percent) + " % · " + (op.error ? op.error.message : op.message || "");
    wrap.appendChild(text);
    if (op.events && op.events.length) {
      var details = document.createElement("details");
      var summary = document.createElement("summary");
      summary.textContent = d.t("event_log");
      details.appendChild(summary);
      var list = document.createElement("ol");
      list.className = "events";
      op.events.forEach(function (e) {
        var li = document.createElement("li");
        li.className = "event " + e.level;
        li.textContent = new Date(e.at).toLocaleTimeString(d.lang) + " " + e.message;
        list.appendChild(li);
      });
      details.appendChild(list);
      wrap.appendChild(details);
    }
    return wrap;
  }

  function actions(op) {
    var box = document.createElement("div");
    box.className = "actions";
    var view = document.createElement("a");
    view.href = op.progress_url;
    view.textContent = d.t("view_progress");
    box.appendChild(view);
    if (op.can_cancel && op.status !== "cancelling") {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary danger cancel";
      button.textContent = d.t("cancel");
      button.addEventListener("click", function () { cancel(op, button); });
      box.appendChild(button);
    }
    return box;
  }

  function render(operations) {
    body.textContent = "";
    if (!operations.length) {
      var row = document.createElement("tr");
      var td = cell(row, d.t("no_operations"));
      td.colSpan = 7;
      body.appendChild(row);
      return;
    }
    operations.forEach(function (op) {
      var row = document.createElement("tr");
      row.id = "op-" + op.id;
      row.dataset.status = op.status;
      cell(row, op.created_at ? new Date(op.created_at).toLocaleString(d.lang) : "");
      cell(row, op.source_name);
      cell(row, op.target);
      cell(row, op.username);
      cell(row, d.strings["status_" + op.status] || op.status).className = "status " + op.status;
      cell(row, progressCell(op));
      cell(row, actions(op));
      body.appendChild(row);
    });
  }

  function refresh() {
    d.getJson(d.urls.operations_api).then(function (r) {
      if (r.status === 401) {
        d.say(alertBox, d.t("session_expired"), d.urls.login + "?next=" + encodeURIComponent(window.location.pathname), d.t("signin_link"));
        return; // no reload, no loop: the user signs in when they choose to
      }
      if (r.status !== 200 || !r.data) {
        d.say(alertBox, d.t("refresh_failed"));
      } else {
        alertBox.hidden = true;
        render(r.data.operations);
      }
      schedule(r.data ? r.data.operations : []);
    }, function () {
      d.say(alertBox, d.t("refresh_failed"));
      schedule([{ finished: false }]);
    });
  }

  function schedule(operations) {
    if (timer) clearTimeout(timer);
    var active = operations.some(function (op) { return !op.finished; });
    if (active) timer = setTimeout(refresh, REFRESH_MS);
  }

  function cancel(op, button) {
    if (!window.confirm(d.t("cancel_confirm", { source: op.source_name, target: op.target }))) return;
    button.disabled = true;
    d.postJson(op.cancel_url, {}).then(function (r) {
      if (r.status === 200) {
        d.say(alertBox, d.t("cancel_requested"));
      } else {
        d.say(alertBox, d.errorText(r));
      }
      refresh();
    }, function () {
      button.disabled = false;
      d.say(alertBox, d.t("server_error", { status: "—" }));
    });
  }

  var initial = d.readJson("dbkeeper-operations", []);
  render(initial);
  schedule(initial);
})();
