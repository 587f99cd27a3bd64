/* dbkeeper: the operations page. Lists the user's running and finished
   operations with their progress and latest events, refreshes while any is
   running, and cancels a running one after a confirmation. */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const REFRESH_MS = 2000;
  const body = document.querySelector("#operations tbody");
  const alertBox = document.getElementById("operations-alert");
  let timer = null;
  // Each cell carries its column's heading, shown beside it where the rows become cards (narrow screens).
  const headings = [...document.querySelectorAll("#operations thead th")].map((th) => th.textContent.trim());

  const cell = (row, content) => {
    const td = document.createElement("td");
    td.dataset.label = headings[row.children.length] || "";
    if (content instanceof Node) td.append(content); else td.textContent = content == null ? "" : String(content);
    row.append(td);
    return td;
  };

  const progressCell = (op) => {
    const wrap = document.createElement("div");
    const bar = document.createElement("div");
    bar.className = "bar small";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(Math.round(op.percent)));
    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.inlineSize = Math.max(0, Math.min(100, op.percent)) + "%";
    bar.append(fill);
    wrap.append(bar);
    const text = document.createElement("p");
    text.className = "message";
    text.textContent = d.number(op.percent) + " % · " + (op.error ? op.error.message : op.message || "");
    wrap.append(text);
    if (op.events && op.events.length) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = d.t("event_log");
      details.append(summary);
      const list = document.createElement("ol");
      list.className = "events";
      for (const e of op.events) {
        const li = document.createElement("li");
        li.className = "event " + e.level;
        li.textContent = new Date(e.at).toLocaleTimeString(d.lang) + " " + e.message;
        list.append(li);
      }
      details.append(list);
      wrap.append(details);
    }
    return wrap;
  };

  const actions = (op) => {
    const box = document.createElement("div");
    box.className = "actions";
    // A finished operation has no progress left to view: its page tells how it ended.
    const view = document.createElement("a");
    view.href = op.progress_url;
    view.textContent = d.t(op.finished ? "details" : "view_progress");
    box.append(view);
    if (op.can_cancel && op.status !== "cancelling") {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary danger cancel";
      button.textContent = d.t("cancel");
      button.addEventListener("click", () => cancel(op, button));
      box.append(button);
    }
    return box;
  };

  const render = (operations) => {
    body.textContent = "";
    if (!operations.length) {
      const row = document.createElement("tr");
      const empty = cell(row, d.t("no_operations"));
      empty.colSpan = 7;
      empty.dataset.label = "";
      body.append(row);
      return;
    }
    for (const op of operations) {
      const row = document.createElement("tr");
      row.id = "op-" + op.id;
      row.dataset.status = op.status;
      cell(row, op.created_at ? new Date(op.created_at).toLocaleString(d.lang) : "");
      cell(row, op.source_name).className = "long";
      cell(row, op.target).className = "long";
      cell(row, op.username);
      cell(row, d.strings["status_" + op.status] || op.status).className = "status " + op.status;
      cell(row, progressCell(op));
      cell(row, actions(op));
      body.append(row);
    }
  };

  const schedule = (operations) => {
    if (timer) clearTimeout(timer);
    if (operations.some((op) => !op.finished)) timer = setTimeout(refresh, REFRESH_MS);
  };

  const refresh = async () => {
    let r;
    try {
      r = await d.getJson(d.urls.operations_api);
    } catch (e) {
      d.say(alertBox, d.t("refresh_failed"));
      schedule([{ finished: false }]);
      return;
    }
    if (r.status === 401) {
      d.say(alertBox, d.t("session_expired"), d.urls.login + "?next=" + encodeURIComponent(window.location.pathname),
            d.t("signin_link"));
      return; // no reload, no loop: the user signs in when they choose to
    }
    if (r.status !== 200 || !r.data) {
      d.say(alertBox, d.t("refresh_failed"));
    } else {
      alertBox.hidden = true;
      render(r.data.operations);
    }
    schedule(r.data ? r.data.operations : []);
  };

  const cancel = async (op, button) => {
    // A restore names what it replaces; another kind asks in its own words (operations/wordings.py).
    const key = op.wording || op.kind;
    const row = (d.strings.kinds || {})[key];
    const question = row && key !== "restore" ? row.cancel_confirm
      : d.t("cancel_confirm", { source: op.source_name, target: op.target });
    if (!window.confirm(question)) return;
    button.disabled = true;
    let r;
    try {
      r = await d.postJson(op.cancel_url, {});
    } catch (e) {
      button.disabled = false;
      d.say(alertBox, d.t("server_error", { status: "—" }));
      return;
    }
    d.say(alertBox, r.status === 200 ? d.t("cancel_requested") : d.errorText(r));
    refresh();
  };

  const initial = d.readJson("dbkeeper-operations", []);
  render(initial);
  schedule(initial);
})();
