/* dbkeeper: the Backups page. The catalog (filtered on the server by the
   form's query) is drawn from JSON; each backup has its details and its
   actions: download, restore this (the restore page with it chosen), verify,
   pin or unpin, and delete after its id was typed. "Back up now" and
   "Verify" start an operation and follow it with ProgressTracker in the
   page; at its end the list is read again. */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const $ = (id) => document.getElementById(id);
  const list = $("backups");
  let rows = d.readJson("dbkeeper-backup-rows", []) || [];
  let tracker = null;

  const backupUrl = (id, action) => `${d.urls.backups_api}${encodeURIComponent(id)}/${action ? action + "/" : ""}`;
  const when = (iso) => (iso ? new Date(iso).toLocaleString(d.lang) : "");

  const el = d.el;

  // -- one backup -------------------------------------------------------------
  const origin = (b) => {
    if (b.source === "upload") return d.t("origin_upload", { user: b.username || "—" });
    if ((b.origin || "").startsWith("schedule:")) return d.t("origin_schedule", { id: b.origin.slice(9) });
    return d.t("origin_manual", { user: b.username || "—" });
  };

  const verification = (b) => {
    if (!b.verification_outcome) return d.t("never_verified");
    const key = b.verification_outcome === "passed" ? "verified_passed" : "verified_failed";
    return d.t(key, { date: when(b.verified_at), message: b.verification_message || "" });
  };

  const tableList = (tables) => {
    const names = Object.keys(tables || {}).sort();
    if (!names.length) return d.t("no_table_counts");
    return el("ul", { className: "tables table-counts" }, ...names.map((name) =>
      el("li", {}, d.plural("table_rows", tables[name], { table: name, n: d.number(tables[name]) }))));
  };

  const details = (b) => {
    const dl = el("dl", { className: "backup-facts" });
    const add = (label, value) => dl.append(el("dt", {}, label), el("dd", {}, value));
    add(d.t("backup_format"), b.format_name || b.format);
    add(d.t("backup_size"), d.size(b.size));
    add(d.t("backup_sha256"), el("code", { className: "long" }, b.sha256));
    add(d.t("field_made"), `${when(b.created_at)} · ${origin(b)}`);
    if (b.target) add(d.t("field_database"), b.target);
    add(d.t("field_tables"), tableList(b.tables));
    if (b.tool_version || b.server_version) {
      add(d.t("field_versions"), d.t("versions", { tool: b.tool_version || "—", server: b.server_version || "—" }));
    }
    add(d.t("field_storage"), d.t("storage_at", { storage: b.storage || "—", name: b.storage_name }));
    add(d.t("field_encryption"), b.encrypted
      ? el("ul", { className: "tables" }, ...b.recipients.map((r) => el("li", {}, r))) : d.t("not_encrypted"));
    add(d.t("field_pinned"), d.t(b.pinned ? "yes" : "no"));
    add(d.t("field_verified"), verification(b));
    return el("details", { className: "backup-details" }, el("summary", {}, d.t("details")), dl);
  };

  const badges = (b) => {
    const out = [];
    if (b.encrypted) out.push(el("span", { className: "chip" }, d.t("badge_encrypted")));
    if (b.pinned) out.push(el("span", { className: "chip pinned" }, d.t("badge_pinned")));
    if (b.verification_outcome === "passed") out.push(el("span", { className: "chip ok" }, d.t("badge_verified")));
    if (b.verification_outcome === "failed") out.push(el("span", { className: "chip bad" }, d.t("badge_verify_failed")));
    return out;
  };

  const row = (b) => {
    const status = el("p", { className: "row-status", role: "status", hidden: true });
    const download = el("a", { className: "download", href: b.download_url, download: "" }, d.t("download"));
    const restore = el("a", { className: "restore-this", href: `${d.urls.restore}?backup=${encodeURIComponent(b.id)}` },
      d.t("restore_this"));
    const verify = el("button", { type: "button", className: "secondary verify" }, d.t("verify"));
    const pin = el("button", { type: "button", className: "secondary pin" }, d.t(b.pinned ? "unpin" : "pin"));
    const remove = el("button", { type: "button", className: "secondary danger delete" }, d.t("delete"));
    remove.disabled = b.pinned;
    remove.title = b.pinned ? d.t("unpin_to_delete") : "";

    // Delete: the id typed, as a restore's target name is.
    const typed = el("input", { className: "delete-typed", autocomplete: "off", spellcheck: false, dir: "ltr" });
    typed.setAttribute("aria-label", d.t("backup_id"));
    const confirmDelete = el("button", { type: "button", className: "danger confirm-delete", disabled: true },
      d.t("delete"));
    const help = el("p", {}, ...d.tNodes("delete_confirm_help", { id: el("strong", {}, el("code", {}, b.id)) }));
    const confirmBox = el("div", { className: "delete-confirm", hidden: true }, help, typed, confirmDelete);

    // A backup dbkeeper did not make (an upload) is test-restored next to a target chosen here.
    const targetNames = Array.from($("f-target").options).map((o) => o.value).filter(Boolean);
    const next = b.target ? null : el("select", { className: "verify-target" },
      ...targetNames.map((name) => el("option", { value: name }, name)));
    if (next) next.setAttribute("aria-label", d.t("verify_next_to"));
    verify.addEventListener("click", () => startOperation(backupUrl(b.id, "verify"), "verify", b.name, status,
      next ? { target: next.value } : {}));
    pin.addEventListener("click", async () => {
      const r = await send(backupUrl(b.id, "pin"), { pinned: !b.pinned }, status);
      if (r && r.status === 200) replaceRow(r.data);
    });
    remove.addEventListener("click", () => { confirmBox.hidden = !confirmBox.hidden; typed.focus(); });
    typed.addEventListener("input", () => { confirmDelete.disabled = typed.value.trim() !== b.id; });
    confirmDelete.addEventListener("click", async () => {
      const r = await send(backupUrl(b.id, "delete"), { confirm: typed.value.trim() }, status);
      if (r && r.status === 200) {
        rows = rows.filter((x) => x.id !== b.id);
        render();
        d.say($("backups-status"), d.t("deleted", { id: b.id }));
      }
    });

    return el("li", { className: "backup card", id: `backup-${b.id}` },
      el("p", { className: "backup-name long" }, el("strong", {}, b.name)),
      el("p", { className: "backup-meta" },
        [when(b.created_at), b.target || "", b.format_name || b.format, d.size(b.size)].filter(Boolean).join(" · "),
        " ", ...badges(b)),
      details(b),
      el("div", { className: "actions" }, download, restore, next, verify, pin, remove),
      confirmBox, status);
  };

  const render = () => {
    list.replaceChildren(...rows.map(row));
    if (!rows.length) list.append(el("li", { className: "hint" }, d.t("no_backups")));
  };

  const replaceRow = (b) => {
    const full = { ...rows.find((x) => x.id === b.id), ...b };
    rows = rows.map((x) => (x.id === b.id ? full : x));
    render();
  };

  const reload = async () => {
    let r;
    try {
      r = await d.getJson(d.urls.backups_api + window.location.search);
    } catch (e) {
      return;
    }
    if (r.status !== 200 || !r.data) return;
    const known = Object.fromEntries(rows.map((x) => [x.id, x]));
    rows = r.data.backups.map((b) => ({
      format_name: d.formatName(b.format, b.format_label),
      download_url: backupUrl(b.id, "download"),
      ...(known[b.id] || {}), ...b,
    }));
    render();
  };

  // -- requests and operations ----------------------------------------------
  const send = async (url, body, status) => {
    status.hidden = true;
    try {
      const r = await d.postJson(url, body);
      if (r.status >= 400) d.say(status, d.errorText(r));
      return r;
    } catch (e) {
      d.say(status, d.t("server_error", { status: "—" }));
      return null;
    }
  };

  /* The tracker section is reused: each operation gets a fresh one, its
     buttons without the listeners of the one before. */
  const resetTracker = () => {
    if (tracker) tracker.stop();
    for (const id of ["tracker-cancel", "notify-button"]) {
      const old = $(id);
      if (old) old.replaceWith(old.cloneNode(true));
    }
    $("tracker-live").hidden = false;
    $("tracker-result").hidden = true;
    $("tracker-alert").hidden = true;
    $("tracker-cancel-state").hidden = true;
    $("tracker-log").open = true;
    const notify = $("notify-line");
    if (notify) notify.hidden = false;
    const another = $("tracker-another");
    if (another) another.hidden = true;
  };

  const startOperation = async (url, kind, what, status, body) => {
    const r = await send(url, body || {}, status);
    if (!r || r.status !== 202) return;
    resetTracker();
    // A backup is named by the target it copies, a verification by the backup it reads.
    const names = kind === "backup" ? { target: what } : { source: what };
    tracker = new d.ProgressTracker({
      statusUrl: r.data.status_url, token: r.data.token, progressUrl: r.data.progress_url, operationId: r.data.id, kind,
      ...names, cancelUrl: r.data.cancel_url, onFinish: () => ended(),
    }).start();
    $("tracker").scrollIntoView({ block: "nearest" });
  };

  /* The tracker said the ending in the operation's own words; the list shows what it left. */
  const ended = () => {
    const another = $("tracker-another");
    if (another) another.hidden = true;
    reload();
  };

  for (const button of document.querySelectorAll(".back-up-now")) {
    button.addEventListener("click", async () => {
      const target = button.dataset.target;
      await startOperation(d.urls.backups_api, "backup", target, $("backup-now-error"), { target });
    });
  }

  render();
})();
