/* dbkeeper: the Databases page. A database is created empty or from a
   stored backup (a restore into a new name, followed as an operation). Each
   server's databases are drawn from JSON with their actions: duplicate, rename, drop (the name typed, a safety
   backup first unless unticked), and for a pre-restore copy, undo the
   restore (the live database's name typed) or drop the copy. An action that
   would end other sessions is answered first with their count (409
   sessions_open): the page says how many and asks before sending it again.
   Long actions are operations: followed here with their progress token,
   then the list is read again. */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const $ = (id) => document.getElementById(id);
  const s = d.readJson("dbkeeper-db-strings", {});
  const t = (key, values) => d.fill(s[key] || key, values);
  const el = d.el;
  let data = d.readJson("dbkeeper-databases", { servers: [], sqlite: [], errors: [] });

  const age = (seconds) => {
    const n = Math.max(0, Number(seconds) || 0);
    if (n >= 86400) return t("days", { n: d.number(Math.floor(n / 86400)) });
    if (n >= 3600) return t("hours", { n: d.number(Math.floor(n / 3600)) });
    if (n >= 60) return t("minutes", { n: d.number(Math.floor(n / 60)) });
    return t("seconds", { n: d.number(n) });
  };

  const enc = encodeURIComponent;
  const dbUrl = (target, name, action) =>
    `${d.urls.databases_api}${enc(target)}/${enc(name)}/${action ? action + "/" : ""}`;
  const copyUrl = (id, action) => `${d.urls.databases_api}copies/${enc(id)}/${action}/`;

  const reload = async () => {
    const r = await d.getJson(d.urls.databases_api);
    if (r.status === 200 && r.data) {
      data = r.data;
      draw();
    }
  };

  const statusOf = async (started) => {
    const response = await fetch(started.status_url, {
      credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json", "X-Temp-Token": started.token },
    });
    return { status: response.status, data: response.status === 200 ? await response.json() : null };
  };

  /* How the last action ended, above the list (the list is drawn again after each). */
  const report = (outcome, text, link) => {
    const box = $("databases-status");
    box.className = outcome === "succeeded" ? "ok" : "alert";
    d.say(box, text, link, link ? t("details") : "");
    box.dataset.outcome = outcome;
  };

  /* Follow an operation with its token until it ends, in ``status``. */
  const follow = async (started, status) => {
    d.say(status, t("working"), started.progress_url, t("details"));
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      let r;
      try {
        r = await statusOf(started);
      } catch (e) { continue; }
      if (!r || !r.data) continue;
      const op = r.data;
      if (!op.finished) {
        d.say(status, `${op.message} (${d.number(Math.round(op.percent))} %)`, started.progress_url, t("details"));
        continue;
      }
      const text = op.error ? op.error.message : op.message;
      d.say(status, text, started.progress_url, t("details"));
      await reload();
      report(op.status, text, started.progress_url);
      return op;
    }
  };

  /* POST; a 409 sessions_open asks (with the count) and sends again with end_sessions. */
  const send = async (url, body, status, box) => {
    status.className = "row-status";
    delete $("databases-status").dataset.outcome;
    let r;
    try {
      r = await d.postJson(url, body);
    } catch (e) {
      d.say(status, d.errorText(null));
      return null;
    }
    if (r.status === 409 && r.data && r.data.error && r.data.error.code === "sessions_open") {
      status.className = "row-status warning sessions-warning";
      d.say(status, r.data.error.message);
      const go = el("button", { type: "button", className: "danger end-sessions" }, t("end_sessions"));
      status.append(" ", go);
      go.addEventListener("click", () => send(url, { ...body, end_sessions: true }, status, box));
      return null;
    }
    if (r.status >= 400) {
      status.className = "row-status alert";
      d.say(status, d.errorText(r));
      report("refused", d.errorText(r));
      return null;
    }
    if (r.status === 202 && r.data && r.data.token) {
      status.dataset.operation = r.data.id;
      return follow(r.data, status);
    }
    status.className = "row-status ok";
    d.say(status, t("done"));
    await reload();
    report("succeeded", t("done"));
    return r;
  };

  /* An action that ends the other sessions: their count is asked first and,
     when there are some, said with a button that sends it with end_sessions. */
  const endingSessions = async (target, name, url, body, status) => {
    status.className = "row-status";
    const r = await d.getJson(dbUrl(target, name));
    const count = r.status === 200 && r.data ? r.data.connections : 0;
    if (!count) return send(url, body, status);
    const forms = s.sessions_open || {};
    const text = (typeof forms === "string" ? forms : forms[new Intl.PluralRules(d.lang).select(count)] || forms.other || "")
      .replace("%(count)s", d.number(count)).replace("%(name)s", name);
    status.className = "row-status warning sessions-warning";
    d.say(status, text);
    const go = el("button", { type: "button", className: "danger end-sessions" }, t("end_sessions"));
    status.append(" ", go);
    go.addEventListener("click", () => send(url, { ...body, end_sessions: true }, status));
    return null;
  };

  /* A small form that opens under the row: inputs, then a button. */
  const actionForm = (kind, fields, confirmName, onGo) => {
    const go = el("button", { type: "button", className: `go go-${kind}` + (kind.includes("drop") || kind === "undo" ? " danger" : "") },
      t(kind === "undo" ? "undo" : kind === "drop-copy" ? "drop_copy" : kind));
    const box = el("div", { className: `action-form form-${kind}`, hidden: true }, ...fields);
    let typed = null;
    if (confirmName) {
      typed = el("input", { className: "typed", autocomplete: "off", spellcheck: false, dir: "ltr" });
      typed.setAttribute("aria-label", t("type_name", { name: confirmName }));
      box.append(el("label", {}, t("type_name", { name: confirmName }), " ", typed));
      go.disabled = true;
      typed.addEventListener("input", () => { go.disabled = typed.value.trim() !== confirmName; });
    }
    box.append(go);
    go.addEventListener("click", () => onGo(typed ? typed.value.trim() : ""));
    return box;
  };

  const toggle = (kind, box) => {
    const b = el("button", { type: "button", className: `secondary open-${kind}` + (kind.includes("drop") ? " danger" : "") },
      t(kind === "undo" ? "undo" : kind === "drop-copy" ? "drop_copy" : kind));
    b.addEventListener("click", () => { box.hidden = !box.hidden; });
    return b;
  };

  const copyItem = (c, live, status, mayManage) => {
    const li = el("li", { className: "copy" });
    li.dataset.name = c.name;
    if (!mayManage) {  // seen, not managed: no buttons that would only be refused
      li.append(el("span", { className: "long" }, el("code", {}, c.name)), " ",
        el("span", {}, `${t("age", { age: age(c.age_seconds) })} · ${c.size === null ? "—" : d.size(c.size)}`));
      return li;
    }
    const undoBox = actionForm("undo", [], live, (typed) => send(copyUrl(c.id, "undo"), { confirm: typed }, status));
    const dropBox = actionForm("drop-copy", [], c.name, (typed) => send(copyUrl(c.id, "drop"), { confirm: typed }, status));
    li.append(el("span", { className: "long" }, el("code", {}, c.name)), " ",
      el("span", {}, `${t("age", { age: age(c.age_seconds) })} · ${c.size === null ? "—" : d.size(c.size)}`), " ",
      toggle("undo", undoBox), " ", toggle("drop-copy", dropBox), undoBox, dropBox);
    return li;
  };

  const databaseRow = (server, db) => {
    const li = el("li", { className: "database" + (db.read_only ? " read-only" : "") });
    li.dataset.name = db.name;
    const status = el("p", { className: "row-status", role: "status", hidden: true });
    const facts = el("dl", { className: "backup-facts" });
    const add = (label, value) => facts.append(el("dt", {}, label), el("dd", {}, value));
    add(t("size"), db.size === null ? "—" : d.size(db.size));
    add(t("owner"), db.owner);
    add(t("encoding"), `${db.encoding} · ${db.collate}`);
    add(t("sessions"), d.number(db.connections));
    if (!db.read_only) {
      add(t("last_backup"), db.last_backup
        ? `${db.last_backup.name} · ${t("age", { age: age(db.last_backup.age_seconds) })}` : t("never_backed_up"));
    }
    const head = el("h3", { className: "long" }, db.name);
    li.append(head);
    if (db.read_only) li.append(el("p", { className: "hint" }, t("read_only", { reason: db.read_only_reason })));
    if (db.target) li.append(el("p", { className: "hint" }, t("target_of", { target: db.target })));
    li.append(facts);
    if (!db.read_only && db.may_manage) {
      const via = db.via || server.target;
      const dupName = el("input", { className: "new-name", autocomplete: "off", dir: "ltr" });
      dupName.setAttribute("aria-label", t("new_name"));
      const stream = el("input", { type: "checkbox", className: "stream" });
      const dupBox = actionForm("duplicate", [el("label", {}, t("new_name"), " ", dupName),
        el("label", {}, stream, " ", t("stream"))], null,
        () => (stream.checked
          ? send(dbUrl(via, db.name, "duplicate"), { name: dupName.value.trim(), mode: "stream" }, status)
          : endingSessions(via, db.name, dbUrl(via, db.name, "duplicate"), { name: dupName.value.trim(), mode: "template" }, status)));
      const newName = el("input", { className: "new-name", autocomplete: "off", dir: "ltr" });
      newName.setAttribute("aria-label", t("new_name"));
      const renBox = actionForm("rename", [el("label", {}, t("new_name"), " ", newName)], null,
        () => endingSessions(via, db.name, dbUrl(via, db.name, "rename"), { name: newName.value.trim() }, status));
      const safety = el("input", { type: "checkbox", className: "safety", checked: true });
      const dropBox = actionForm("drop", [el("label", {}, safety, " ", t("safety_backup"))], db.name,
        (typed) => send(dbUrl(via, db.name, "drop"), { confirm: typed, safety_backup: safety.checked }, status));
      li.append(el("p", { className: "actions" }, toggle("duplicate", dupBox), " ", toggle("rename", renBox), " ",
        toggle("drop", dropBox)), dupBox, renBox, dropBox);
    }
    if (db.copies && db.copies.length) {
      li.append(el("h4", {}, t("copies")), el("ul", { className: "copies" }, ...db.copies.map((c) => copyItem(c, db.name, status, db.may_manage))));
    }
    li.append(status);
    return li;
  };

  const draw = () => {
    const box = $("servers");
    const parts = [];
    for (const server of data.servers) {
      const section = el("section", { className: "server" }, el("h3", { className: "long" }, server.server));
      section.dataset.server = server.server;
      if (server.error) section.append(el("p", { className: "alert" }, server.error));
      section.append(el("ul", { className: "databases" }, ...server.databases.map((db) => databaseRow(server, db))));
      parts.push(section);
    }
    for (const f of data.sqlite) {
      const status = el("p", { className: "row-status", role: "status", hidden: true });
      const li = el("li", { className: "database sqlite" }, el("h3", { className: "long" }, `${f.target}: ${f.path}`),
        el("p", {}, f.exists ? d.size(f.size) : t("missing")));
      if (f.copies && f.copies.length) {
        li.append(el("h4", {}, t("copies")), el("ul", { className: "copies" }, ...f.copies.map((c) => copyItem(c, f.target, status, f.may_manage))));
      }
      li.append(status);
      parts.push(el("section", { className: "server sqlite" }, el("ul", { className: "databases" }, li)));
    }
    for (const e of data.errors) parts.push(el("p", { className: "alert" }, `${e.target}: ${e.error}`));
    if (!parts.length) parts.push(el("p", { className: "hint" }, t("no_servers")));
    box.replaceChildren(...parts);
  };

  /* The create forms are left out for someone who may manage no target's databases. */
  if ($("create-form")) $("create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData($("create-form"));
    await send(d.urls.databases_api, Object.fromEntries(form.entries()), $("create-status"));
  });

  /* A database created from a stored backup: a restore operation, followed with its token. */
  if ($("from-backup-form")) $("from-backup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData($("from-backup-form"));
    await send(d.urls.databases_api, Object.fromEntries(form.entries()), $("from-backup-status"));
  });

  draw();
})();
