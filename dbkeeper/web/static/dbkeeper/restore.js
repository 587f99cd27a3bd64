/* dbkeeper: the restore page. Choose a target and a backup (stored, or
   uploaded with the resumable tus client), confirm by typing the target's
   name, then start the restore and follow it with ProgressTracker.
   The operation id and its token are kept in sessionStorage and the address
   becomes the progress view's, so a reload resumes tracking (progress.js). */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const KEY = "dbkeeper:tracking";
  const $ = (id) => document.getElementById(id);

  const backups = {};
  for (const b of d.readJson("dbkeeper-backups", []) || []) backups[b.id] = b;
  let chosenBackup = null;

  const track = (state) => {
    $("choose").hidden = true;
    new d.ProgressTracker({
      statusUrl: state.status_url, token: state.token, source: state.source, target: state.target,
      progressUrl: state.progress_url, operationId: state.id, format: state.format, cancelUrl: state.cancel_url,
    }).start();
  };

  // -- target ---------------------------------------------------------------
  const targetName = () => $("target").value;

  const refreshConfirm = () => {
    const name = targetName();
    if (name && chosenBackup) {
      // The name to type stands out from the sentence around it.
      const typed = document.createElement("strong");
      const code = document.createElement("code");
      code.textContent = name;
      typed.append(code);
      $("confirm-help").replaceChildren(...d.tNodes("type_to_confirm", { name: typed }));
    }
    $("start").disabled = !(name && chosenBackup && $("confirm").value.trim() === name);
    refreshPlan();
  };

  // What the chosen backup needs on the chosen target (roles, extensions,
  // privileged objects) and what dbkeeper will do about each, before confirming.
  let planFor = "";
  const refreshPlan = async () => {
    const name = targetName();
    const box = $("backup-plan");
    const key = name && chosenBackup && chosenBackup.id ? `${name}\n${chosenBackup.id}` : "";
    if (key === planFor) return;
    planFor = key;
    box.hidden = true;
    $("restore-space").hidden = true;
    if (!key) return;
    let r;
    try {
      r = await d.getJson(`${d.urls.targets}${encodeURIComponent(name)}/plan/?backup=${encodeURIComponent(chosenBackup.id)}`);
    } catch (e) {
      return;  // the plan is a help, not a step: the restore can still be confirmed
    }
    if (planFor !== key || r.status !== 200 || !r.data) return;
    // The space the scratch copy and the kept pre-restore copies take.
    $("restore-space").textContent = (r.data.space && r.data.space.text) || "";
    $("restore-space").hidden = !$("restore-space").textContent;
    if (!r.data.plan.length) return;
    const rows = r.data.plan.map((row) => {
      const item = document.createElement("li");
      const what = document.createElement("strong");
      what.textContent = row.object;
      item.append(what, `: ${row.action}`);
      return item;
    });
    $("backup-plan-rows").replaceChildren(...rows);
    box.hidden = false;
  };
  $("target").addEventListener("change", refreshConfirm);
  $("confirm").addEventListener("input", refreshConfirm);

  const addForm = $("add-target-form");
  if (addForm) {
    addForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = $("add-target-status");
      let r;
      try {
        r = await d.postJson(d.urls.targets, {
          name: $("new-target-name").value.trim(), url: $("new-target-url").value.trim(),
          trust_superuser: $("new-target-trust").checked,
        });
      } catch (e) {
        d.say(status, d.t("server_error", { status: "—" }));
        return;
      }
      if (r.status !== 201) { d.say(status, d.errorText(r)); return; }
      const option = document.createElement("option");
      option.value = r.data.name;
      option.textContent = `${r.data.name} — ${r.data.display}${r.data.trust === "superuser" ? " — ⚠" : ""}`;
      $("target").append(option);
      $("target").value = r.data.name;
      // There is a target now: the form is emptied and the "none yet" hint goes.
      addForm.reset();
      const none = $("no-targets");
      if (none) none.remove();
      d.say(status, d.t("target_added", { name: r.data.name }));
      refreshConfirm();
    });
  }

  // -- backup ---------------------------------------------------------------
  const showBackup = (b) => {
    chosenBackup = b;
    const box = $("backup-info");
    // Stored with the server's roles: they can be created first, on request.
    $("apply-roles-line").hidden = !(b && b.has_roles);
    if (!(b && b.has_roles)) $("apply-roles").checked = false;
    if (!b) { box.hidden = true; refreshConfirm(); return; }
    const info = b.info || {};
    const tables = info.tables || [];
    $("backup-summary").textContent = d.t("backup_summary", {
      format: d.formatName(b.format, b.format_label), size: d.size(b.size),
      tables: d.plural("table_count", tables.length, { n: d.number(tables.length) }),
    }) + (info.compressed ? " · " + d.t("compressed") : "");
    $("backup-version").textContent = info.server_version ? d.t("server_version", { version: info.server_version }) : "";
    $("backup-tables").textContent = tables.join(", ");
    box.hidden = false;
    refreshConfirm();
  };

  $("backup").addEventListener("change", () => showBackup(backups[$("backup").value] || null));

  document.querySelectorAll('input[name="source"]').forEach((radio) => {
    radio.addEventListener("change", () => {
      const upload = radio.value === "upload" && radio.checked;
      $("upload-pane").hidden = !upload;
      $("stored-pane").hidden = upload;
      showBackup(upload ? null : backups[$("backup").value] || null);
    });
  });

  const upload = async (file) => {
    const status = $("upload-status"), bar = $("upload-bar");
    if (!d.tus || !d.urls.uploads) { d.say(status, d.t("upload_unavailable")); return; }
    $("upload-button").disabled = true;
    bar.hidden = false;
    bar.value = 0;
    try {
      const { backup } = await new d.tus.Upload(file, {
        endpoint: d.urls.uploads,
        csrfToken: d.csrfToken(),
        onProgress: (sent, total) => {
          const percent = total ? (sent / total) * 100 : 0;
          bar.value = percent;
          d.say(status, d.t("upload_progress", { percent: d.number(percent) + " %" }));
        },
        onRetry: () => d.say(status, d.t("upload_retrying")),
      }).start();
      backups[backup.id] = backup;
      d.say(status, d.t("upload_done"));
      showBackup(backup);
    } catch (error) {
      // Nothing was kept: the bar does not stay full over a refusal.
      bar.value = 0;
      bar.hidden = true;
      d.say(status, d.t("upload_failed", { error: (error && error.message) || String(error) }));
    } finally {
      $("upload-button").disabled = false;
    }
  };

  $("upload-button").addEventListener("click", () => {
    const file = $("upload-file").files[0];
    if (file) upload(file);
  });

  // "Restore this" on the Backups page: the backup comes chosen.
  const wanted = new URLSearchParams(window.location.search).get("backup");
  if (wanted && backups[wanted]) {
    $("backup").value = wanted;
    showBackup(backups[wanted]);
  }

  // -- start ----------------------------------------------------------------
  const startFailed = (error) => {
    $("tracker").hidden = true;
    $("start").disabled = false;
    d.say($("start-error"), d.t("start_failed", { error }));
  };

  $("start").addEventListener("click", async () => {
    const name = targetName();
    if ($("confirm").value.trim() !== name) { d.say($("start-error"), d.t("not_confirmed")); return; }
    $("start").disabled = true;
    $("start-error").hidden = true;
    $("tracker").hidden = false;
    $("tracker-stage").textContent = d.t("preparing");
    let r;
    try {
      r = await d.postJson(d.urls.restores, {
        backup_id: chosenBackup.id, target: name, confirm: $("confirm").value.trim(), apply_roles: $("apply-roles").checked,
      });
    } catch (e) {
      startFailed(d.t("server_error", { status: "—" }));
      return;
    }
    if (r.status !== 202) {
      startFailed(d.errorText(r));
      return;
    }
    const state = {
      id: r.data.id, token: r.data.token, status_url: r.data.status_url, progress_url: r.data.progress_url,
      source: chosenBackup.name, target: name, format: chosenBackup.format, cancel_url: r.data.cancel_url,
    };
    sessionStorage.setItem(KEY, JSON.stringify(state));
    // The address becomes the progress view's: a reload resumes tracking there.
    history.pushState(null, "", state.progress_url);
    track(state);
  });
})();
