/* dbkeeper: the Schedules page. The form shows the next five run times of
   its cron expression and time zone (asked of the server as they are typed)
   before the schedule is saved; the list shows each schedule's next and last
   run, read again every few seconds, with pause, resume and remove. */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const $ = (id) => document.getElementById(id);
  const strings = d.readJson("dbkeeper-schedule-strings", {});
  const s = (key, values) => d.fill(strings[key] || key, values);
  const el = d.el;
  let rows = d.readJson("dbkeeper-schedule-rows", []) || [];

  /* A run time in the schedule's own zone, written in the page's language. */
  const when = (iso, zone) => {
    try {
      return new Date(iso).toLocaleString(d.lang, { timeZone: zone, dateStyle: "full", timeStyle: "short" });
    } catch (e) {
      return new Date(iso).toLocaleString(d.lang);
    }
  };

  const send = async (method, url, body) => {
    const response = await fetch(url, {
      method, credentials: "same-origin", redirect: "manual",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": d.csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, data };
  };

  const scheduleUrl = (id) => `${d.urls.schedules_api}${encodeURIComponent(id)}/`;

  // -- the list -----------------------------------------------------------------
  const row = (x) => {
    const item = el("li", { className: "schedule card-row" });
    item.dataset.id = x.id;
    const state = el("span", { className: x.enabled ? "badge ok" : "badge muted" }, x.enabled ? s("enabled") : s("paused"));
    const title = el("p", {}, el("strong", { className: "long" }, x.name), " ", state);
    const line = el("p", { className: "long hint" }, el("bdi", { dir: "ltr" }, x.cron), " · ",
      el("bdi", { dir: "ltr" }, x.timezone), " · ", s("target_is", { target: x.target }));
    const next = el("p", { className: "next-run" });
    if (x.enabled && x.next_times.length) next.append(s("next_runs"), " ", when(x.next_times[0], x.timezone));
    const last = el("p", { className: "last-run" });
    last.textContent = x.last_run
      ? s("last_run", { slot: x.last_run.slot.replace("T", " "), status: s("run_" + x.last_run.status) })
      : s("never_ran");
    if (x.last_run) last.dataset.status = x.last_run.status;
    const toggle = el("button", { type: "button", className: "secondary toggle" }, x.enabled ? s("pause") : s("resume"));
    toggle.addEventListener("click", async () => {
      const r = await send("PATCH", scheduleUrl(x.id), { enabled: !x.enabled });
      if (r.status === 200) { replace(r.data); } else { showError(r); }
    });
    const remove = el("button", { type: "button", className: "secondary danger remove" }, s("remove"));
    remove.addEventListener("click", async () => {
      if (!window.confirm(s("confirm_remove", { name: x.name }))) return;
      const r = await send("DELETE", scheduleUrl(x.id));
      if (r.status === 200) { rows = rows.filter((y) => y.id !== x.id); render(); } else { showError(r); }
    });
    item.append(title, line, next, last, el("div", { className: "actions" }, toggle, remove));
    return item;
  };

  const render = () => {
    const list = $("schedules");
    list.replaceChildren(...(rows.length ? rows.map(row) : [el("li", { className: "hint", id: "no-schedules" }, s("no_schedules"))]));
  };

  const replace = (x) => {
    rows = rows.some((y) => y.id === x.id) ? rows.map((y) => (y.id === x.id ? { ...y, ...x } : y)) : [...rows, x];
    rows.sort((a, b) => a.name.localeCompare(b.name));
    render();
  };

  const showError = (r) => {
    const box = $("schedules-error");
    box.textContent = d.errorText(r);
    box.hidden = false;
  };

  const reload = async () => {
    try {
      const r = await d.getJson(d.urls.schedules_api);
      if (r.status === 200 && r.data) { rows = r.data.schedules; render(); }
    } catch (e) { /* offline for a moment: the next reload tries again */ }
  };

  // -- the form ----------------------------------------------------------------
  const form = $("schedule-form");
  const number = (id) => {
    const value = $(id).value.trim();
    return value === "" ? null : Number(value);
  };
  const fields = () => {
    const retention = {};
    for (const key of ["keep_last", "keep_daily", "keep_weekly", "keep_monthly"]) {
      const n = number("s-" + key.replace("_", "-"));
      if (n !== null) retention[key] = n;
    }
    return {
      name: $("s-name").value.trim(), target: $("s-target").value, cron: $("s-cron").value.trim(),
      timezone: $("s-timezone").value.trim(), verify_every: number("s-verify") || 0, retention,
      encrypt: $("s-encrypt").checked,
    };
  };

  let previewTimer = null;
  let previewSeq = 0;
  const preview = async () => {
    const seq = ++previewSeq;
    const f = fields();
    let r;
    try {
      r = await d.postJson(d.urls.schedules_preview, { cron: f.cron, timezone: f.timezone });
    } catch (e) {
      return;
    }
    if (seq !== previewSeq) return;
    const title = $("schedule-preview-title");
    const list = $("schedule-next-times");
    if (r.status === 200 && r.data) {
      title.textContent = s("next_runs");
      title.classList.remove("alert");
      list.replaceChildren(...r.data.next_times.map((iso) => el("li", { className: "next-time" }, when(iso, f.timezone))));
    } else {
      title.textContent = r.data ? d.errorText(r) : s("no_next_runs");
      title.classList.add("alert");
      list.replaceChildren();
    }
  };
  const schedulePreview = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 250);
  };

  if (form) {
    $("s-cron").addEventListener("input", schedulePreview);
    $("s-timezone").addEventListener("input", schedulePreview);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("schedule-error");
      const saved = $("schedule-saved");
      error.hidden = true;
      saved.hidden = true;
      $("schedule-save").disabled = true;
      try {
        const r = await d.postJson(d.urls.schedules_api, fields());
        if (r.status === 201) {
          replace(r.data);
          saved.textContent = s("saved", { name: r.data.name });
          saved.hidden = false;
          $("s-name").value = "";
        } else {
          error.textContent = d.errorText(r);
          error.hidden = false;
        }
      } finally {
        $("schedule-save").disabled = false;
      }
    });
    preview();
  }

  render();
  setInterval(reload, 3000);
})();
