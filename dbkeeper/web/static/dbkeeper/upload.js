/* dbkeeper: the upload page. The chosen file goes up with dbkeeper.tus (it
   resumes by itself after a dropped connection, and after a reload when the
   same file is picked again); once stored, the page shows the backup. The
   endpoint and chunk size come from #upload-config. */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const config = d.readJson("upload-config", {});
  const input = document.getElementById("file");
  const bar = document.getElementById("bar");
  const statusLine = document.getElementById("status");
  const resultBox = document.getElementById("result");

  const say = (text, kind) => {
    statusLine.textContent = text;
    statusLine.className = kind || "";
  };

  const showBackup = (backup) => {
    const list = document.createElement("dl");
    list.id = "backup";
    const rows = [
      [d.t("backup_stored_as"), backup.id],
      [d.t("backup_format"), d.formatName(backup.format, backup.format_label)],
      // In units, and to the byte (what a person compares with the file they sent).
      [d.t("backup_size"), backup.size >= 1024
        ? d.size(backup.size) + " (" + d.t("size_bytes", { n: d.number(backup.size) }) + ")"
        : d.size(backup.size)],
      [d.t("backup_sha256"), backup.sha256],
    ];
    for (const [label, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      list.append(dt, dd);
    }
    resultBox.replaceChildren(list);
  };

  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    resultBox.replaceChildren();
    bar.hidden = false;
    bar.value = 0;
    input.disabled = true;
    let resumedAt = null;
    const upload = new d.tus.Upload(file, {
      endpoint: config.endpoint,
      chunkSize: config.chunk_size,
      csrfToken: d.csrfToken(),
      onProgress: (sent, total) => {
        bar.value = total ? (100 * sent / total) : 100;
        const line = d.t("upload_sending", { name: file.name, sent: d.size(sent), total: d.size(total) });
        say(resumedAt === null ? line : line + " " + d.t("upload_resumed_at", { offset: d.size(resumedAt) }));
      },
      onResume: (offset) => { resumedAt = offset; },
      onRetry: (error, delay) => {
        const reason = error.code === "network" ? d.t("upload_connection_lost") : error.message;
        say(d.t("upload_retry_in", { error: reason, time: d.duration(delay / 1000) }), "error");
      },
      onStatus: (stage) => {
        if (stage === "storing") say(d.t("upload_storing", { name: file.name }));
      },
    });
    try {
      const result = await upload.start();
      bar.value = 100;
      say(d.t("upload_stored", { name: file.name }), "ok");
      showBackup(result.backup);
    } catch (error) {
      // Refused or failed: nothing is stored, so the bar does not stay full.
      bar.value = 0;
      bar.hidden = true;
      say(error.message, "error");
    } finally {
      input.disabled = false;
      input.value = "";
    }
  });
})();
