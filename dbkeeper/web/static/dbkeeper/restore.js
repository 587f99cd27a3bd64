/* dbkeeper: the restore page. Choose a target and a backup (stored, or
   uploaded with the resumable tus client), confirm by typing the target's
   name, then start the restore and follow it with ProgressTracker.
   The operation id and its token are kept in sessionStorage and the address
   becomes the progress view's, so a reload resumes tracking (progress.js). */
(function () {
  "use strict";

  var d = window.dbkeeper;
  var KEY = "dbkeeper:tracking";
  function $(id) { return document.getElementById(id); }

  var backups = {};
  (d.readJson("dbkeeper-backups", []) || []).forEach(function (b) { backups[b.id] = b; });
  var chosenBackup = null;

  function track(state) {
    $("choose").hidden = true;
    new window.ProgressTracker({
      statusUrl: state.status_url, token: state.token, source: state.source, target: state.target,
      progressUrl: state.progress_url, operationId: state.id
    }).start();
  }

  // -- target ---------------------------------------------------------------
  function targetName() { return $("target").value; }

  function refreshConfirm() {
    var name = targetName();
    $("confirm-help").textContent = name && chosenBackup ? d.t("type_to_confirm", { name: name }) : $("confirm-help").textContent;
    $("start").disabled = !(name && chosenBackup && $("confirm").value.trim() === name);
    refreshPlan();
  }
  // What the chosen backup needs on the chosen target (roles, extensions, privileged objects), before confirming.
  var planFor = "";
  function refreshPlan() {
    var name = targetName(), box = $("backup-plan");
    var key = name && chosenBackup && chosenBackup.id ? name + "\n" + chosenBackup.id : "";
    if (key === planFor) return;
    planFor = key;
    box.hidden = true;
    if (!key) return;
    d.getJson(d.urls.targets + encodeURIComponent(name) + "/plan/?backup=" + encodeURIComponent(chosenBackup.id))
      .then(function (r) {
        if (planFor !== key || r.status !== 200 || !r.data || !r.data.plan.length) return;
        var list = $("backup-plan-rows");
        list.textContent = "";
        r.data.plan.forEach(function (row) {
          var item = document.createElement("li"), what = document.createElement("strong");
          what.textContent = row.object;
          item.appendChild(what);
          item.appendChild(document.createTextNode(": " + row.action));
          list.appendChild(item);
        });
        box.hidden = false;
      }, function () {});
  }
  $("target").addEventListener("change", refreshConfirm);
  $("confirm").addEventListener("input", refreshConfirm);

  var addForm = $("add-target-form");
  if (addForm) {
    addForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = $("add-target-status");
      d.postJson(d.urls.targets, { name: $("new-target-name").value.trim(), url: $("new-target-url").value.trim(),
                                   trust_superuser: $("new-target-trust").checked })
        .then(function (r) {
          if (r.status !== 201) { d.say(status, d.errorText(r)); return; }
          var option = document.createElement("option");
          option.value = r.data.name;
          option.textContent = r.data.name + " — " + r.data.display + (r.data.trust === "superuser" ? " — ⚠" : "");
          $("target").appendChild(option);
          $("target").value = r.data.name;
          $("new-target-url").value = "";
          d.say(status, d.t("target_added", { name: r.data.name }));
          refreshConfirm();
        }, function () { d.say(status, d.t("server_error", { status: "—" })); });
    });
  }

  // -- backup ---------------------------------------------------------------
  function showBackup(b) {
    chosenBackup = b;
    var box = $("backup-info");
    if (!b) { box.hidden = true; refreshConfirm(); return; }
    var info = b.info || {};
    var tables = info.tables || [];
    $("backup-summary").textContent = d.t("backup_summary", {
      format: b.format_label || b.format, size: d.size(b.size), tables: d.number(tables.length)
    }) + (info.compressed ? " · " + d.t("compressed") : "");
    $("backup-version").textContent = info.server_version ? d.t("server_version", { version: info.server_version }) : "";
    $("backup-tables").textContent = tables.join(", ");
    box.hidden = false;
    refreshConfirm();
  }

  $("backup").addEventListener("change", function () { showBackup(backups[$("backup").value] || null); });

  document.querySelectorAll('input[name="source"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      var upload = radio.value === "upload" && radio.checked;
      $("upload-pane").hidden = !upload;
      $("stored-pane").hidden = upload;
      showBackup(upload ? null : backups[$("backup").value] || null);
    });
  });

  $("upload-button").addEventListener("click", function () {
    var file = $("upload-file").files[0];
    if (!file) return;
    upload(file);
  });

  function upload(file) {
    var status = $("upload-status"), bar = $("upload-bar");
    if (!window.DbkeeperTus || !d.urls.uploads) { d.say(status, d.t("upload_unavailable")); return; }
    $("upload-button").disabled = true;
    bar.hidden = false;
    new window.DbkeeperTus.Upload(file, {
      endpoint: d.urls.uploads,
      csrfToken: document.querySelector('meta[name="csrf-token"]').content,
      onProgress: function (sent, total) {
        var percent = total ? (sent / total) * 100 : 0;
        bar.value = percent;
        d.say(status, d.t("upload_progress", { percent: d.number(percent) + " %" }));
      },
      onRetry: function () { d.say(status, d.t("upload_retrying")); }
    }).start().then(function (result) {
      var backup = result.backup;
      $("upload-button").disabled = false;
      backups[backup.id] = backup;
      d.say(status, d.t("upload_done"));
      showBackup(backup);
    }, function (error) {
      $("upload-button").disabled = false;
      d.say(status, d.t("upload_failed", { error: (error && error.message) || String(error) }));
    });
  }

  // -- start ----------------------------------------------------------------
  $("start").addEventListener("click", function () {
    var name = targetName();
    if ($("confirm").value.trim() !== name) { d.say($("start-error"), d.t("not_confirmed")); return; }
    $("start").disabled = true;
    $("start-error").hidden = true;
    $("tracker").hidden = false;
    $("tracker-stage").textContent = d.t("preparing");
    d.postJson(d.urls.restores, { backup_id: chosenBackup.id, target: name, confirm: $("confirm").value.trim() })
      .then(function (r) {
        if (r.status !== 202) {
          $("tracker").hidden = true;
          $("start").disabled = false;
          d.say($("start-error"), d.t("start_failed", { error: d.errorText(r) }));
          return;
        }
        var state = {
          id: r.data.id, token: r.data.token, status_url: r.data.status_url, progress_url: r.data.progress_url,
          source: chosenBackup.name, target: name
        };
        sessionStorage.setItem(KEY, JSON.stringify(state));
        // The address becomes the progress view's: a reload resumes tracking there.
        history.pushState(null, "", state.progress_url);
        track(state);
      }, function () {
        $("tracker").hidden = true;
        $("start").disabled = false;
        d.say($("start-error"), d.t("start_failed", { error: d.t("server_error", { status: "—" }) }));
      });
  });
})();
