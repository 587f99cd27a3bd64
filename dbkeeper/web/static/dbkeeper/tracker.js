/* dbkeeper: follows one operation to its end and tells the user how it ended.

   It polls the status address every second with the operation token in the
   X-Temp-Token header (the login session is not needed and is not extended).
   Trouble is handled without losing the user:
   - a network error, a timeout or a 5xx: retry after 1, 2, 4, 8 s with a
     visible "reconnecting…"; the count resets on success; after 5 failures
     in a row, stop and say where the restore can be found;
   - a 401 (token refused, and no session either): say "sign in again" with a
     link; never reload the page;
   - 403/404: say so and stop.
   Redirects are never followed (a JSON endpoint never redirects).

   At the end the live part (stage, bar, figures, cancel) gives way to one
   ending: how it ended, the error once, the target by the name it was chosen by.

   new dbkeeper.ProgressTracker({statusUrl, token, source, target, database, operationId, kind, wording,
                                 format, cancelUrl, cancelConfirm, onFinish: (status) => {}}).start()
   (wording: the row of strings.kinds the page speaks with (operations/wordings.py: "restore" (the default),
   "create", "backup", "verify", "duplicate", "drop", "undo"): heading, title, stages, endings, cancel
   question, notifications; kind when not given; when neither is given, the status answer tells it.
   cancelConfirm: the key of a question in strings asked before cancelling instead of the row's) */
(() => {
  "use strict";

  const d = window.dbkeeper;
  const MAX_FAILURES = 5;
  const BACKOFF_SECONDS = [1, 2, 4, 8];
  const POLL_MS = 1000;
  const TIMEOUT_MS = 10000;

  const $ = (id) => document.getElementById(id);

  const errorMessage = async (response) => {
    try {
      const data = await response.json();
      return data && data.error ? data.error.message : "";
    } catch (e) {
      return "";
    }
  };

  class ProgressTracker {
    constructor(options) {
      this.o = options;
      this.failures = 0;
      this.stopped = false;
      this.timer = null;
      this.last = null;
      this.etag = null;  // of the last answer, for If-None-Match
      this.kind = options.kind || "restore";
      this.key = options.wording || this.kind;
    }

    /* The sentence ``name`` of this kind's row (each kind speaks of itself, never of a restore it is not). */
    w(name) {
      const kinds = d.strings.kinds || {};
      const row = kinds[this.key] || kinds.restore || {};
      return row[name] || "";
    }

    stageText(s) {
      const stages = this.w("stages") || {};
      const stage = s.status === "queued" ? "queued" : s.stage;
      return stages[stage] || s.stage;
    }

    /* What the sentences name: the source, the target, the database made or acted on. */
    names(s) {
      const result = (s && s.result) || {};
      const request = result.request || {};
      return {
        source: this.o.source || "",
        target: this.o.target || result.target || "",
        database: this.o.database || request.name || result.name || request.database || "",
      };
    }

    /* The row's title with its names, or its plain title while a name it needs is unknown. */
    titleText(s) {
      const names = this.names(s);
      const wanted = this.w("title_of");
      const needed = [...wanted.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      return wanted && needed.every((n) => names[n]) ? d.fill(wanted, names) : this.w("title");
    }

    applyKind() {
      $("tracker").dataset.kind = this.kind;
      $("tracker").dataset.wording = this.key;
      const heading = $("progress-heading");
      if (heading) {
        heading.textContent = this.w("heading");
        if (document.title.includes(" · ")) document.title = this.w("heading") + document.title.slice(document.title.indexOf(" · "));
      }
      $("tracker-title").textContent = this.titleText(this.last);
      const cancel = $("tracker-cancel");
      if (cancel) cancel.textContent = this.w("cancel");
      const another = $("tracker-another");
      if (another && this.w("after") !== "another") another.remove();  // "Start another restore" follows only a restore
    }

    start() {
      $("tracker").hidden = false;
      this.applyKind();
      this.setupNotifyButton();
      this.setupCancelButton();
      this.poll();
      return this;
    }

    stop() {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
    }

    schedule(ms) {
      if (this.stopped) return;
      this.timer = setTimeout(() => this.poll(), ms);
    }

    async poll() {
      if (this.stopped) return;
      const headers = { "Accept": "application/json" };
      if (this.o.token) headers["X-Temp-Token"] = this.o.token;
      // The server answers 304 without a body when nothing changed since the
      // last answer; sent by hand, since "no-store" keeps no cached copy.
      if (this.etag) headers["If-None-Match"] = this.etag;
      const controller = new AbortController();
      const timeout = setTimeout(() => controller.abort(), TIMEOUT_MS);
      let response;
      try {
        response = await fetch(this.o.statusUrl, {
          headers, credentials: "same-origin", cache: "no-store", redirect: "manual", signal: controller.signal,
        });
      } catch (e) {
        this.failed();
        return;
      } finally {
        clearTimeout(timeout);
      }
      const status = response.status;
      if (status === 200) {
        let data;
        try {
          data = await response.json();
        } catch (e) {
          this.failed();
          return;
        }
        this.etag = response.headers.get("ETag");
        this.received(data);
      } else if (status === 304 && this.etag) {
        this.unchanged();
      } else if (status === 401) {
        this.halt("signin");
      } else if (status === 403) {
        this.halt("forbidden");
      } else if (status === 404) {
        this.halt("not_found");
      } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        this.halt("other", await errorMessage(response));
      } else {
        // 5xx, 408, 429, an opaque redirect (status 0): the server is in trouble; try again.
        this.failed();
      }
    }

    received(status) {
      this.failures = 0;
      $("tracker-notice").hidden = true;
      this.render(status);
      if (status.finished) {
        this.stop();
        this.finish(status);
      } else {
        this.schedule(POLL_MS);
      }
    }

    // 304: the state shown is still the server's; only the next poll is due.
    unchanged() {
      this.failures = 0;
      $("tracker-notice").hidden = true;
      this.schedule(POLL_MS);
    }

    failed() {
      this.failures += 1;
      if (this.failures >= MAX_FAILURES) {
        $("tracker-notice").hidden = true;
        this.halt("lost");
        return;
      }
      d.say($("tracker-notice"), d.t("reconnecting", { n: this.failures, max: MAX_FAILURES }));
      this.schedule(BACKOFF_SECONDS[Math.min(this.failures, BACKOFF_SECONDS.length) - 1] * 1000);
    }

    /* Stop polling and tell the user why, with the way forward. */
    halt(why, detail) {
      this.stop();
      const alert = $("tracker-alert");
      alert.dataset.reason = why;
      if (why === "lost") {
        d.say(alert, this.w("lost"), d.urls.operations, d.t("lost_link"));
      } else if (why === "signin") {
        const next = this.o.progressUrl || window.location.pathname;
        d.say(alert, this.w("signin_again"), d.urls.login + "?next=" + encodeURIComponent(next), d.t("signin_link"));
      } else if (why === "forbidden") {
        d.say(alert, this.w("forbidden"));
      } else if (why === "not_found") {
        d.say(alert, this.w("not_found"));
      } else {
        d.say(alert, detail || d.t("server_error", { status: "4xx" }), d.urls.operations, d.t("lost_link"));
      }
    }

    render(s) {
      this.last = s;
      const key = s.wording || s.kind;
      if (key && key !== this.key) {
        this.kind = s.kind || this.kind;
        this.key = key || this.key;
        this.applyKind();
      }
      $("tracker-stage").textContent = this.stageText(s);
      const percent = Math.max(0, Math.min(100, Number(s.percent) || 0));
      $("tracker-fill").style.inlineSize = percent + "%";
      $("tracker-bar").setAttribute("aria-valuenow", String(Math.round(percent)));
      $("tracker-percent").textContent = d.number(percent) + " %";
      $("tracker-count").textContent = s.total ? d.progressCount(s.done, s.total, s.unit, this.o.format) : "";
      if (s.finished) {
        $("tracker-eta").textContent = "";
      } else if (s.eta_seconds !== null && s.eta_seconds !== undefined) {
        $("tracker-eta").textContent = d.t("eta", { time: d.duration(s.eta_seconds) });
      } else {
        $("tracker-eta").textContent = s.status === "running" ? d.t("eta_unknown") : "";
      }
      $("tracker-message").textContent = s.message || "";
      $("tracker").dataset.status = s.status;
      const cancel = $("tracker-cancel");
      if (cancel) cancel.hidden = !this.o.cancelUrl || s.finished || s.status === "cancelling";
      this.renderEvents($("tracker-events"), s.events || []);
    }

    renderEvents(list, events) {
      list.textContent = "";
      for (const e of events) {
        const li = document.createElement("li");
        li.className = "event " + (e.level || "info");
        const time = document.createElement("time");
        time.dateTime = e.at;
        time.textContent = new Date(e.at).toLocaleTimeString(d.lang);
        li.append(time, " " + e.message);
        list.append(li);
      }
    }

    finish(s) {
      const box = $("tracker-result");
      const result = s.result || {};
      // The target as the heading names it (the name it was chosen by); its URL only when that is unknown.
      const names = this.names(s);
      box.className = "result " + s.status;
      // One ending, in the words of the kind's row.
      $("result-title").textContent = this.w(s.status);
      if (s.status !== "succeeded") {
        $("result-body").textContent = s.error ? s.error.message : (s.message || "");
        $("result-extra").textContent = this.w("unchanged");
      } else if (!this.w("body")) {
        // The worker's own sentence: "The backup is stored: …", "dbb_shop was copied as dbb_dup (…)."
        $("result-body").textContent = s.message || "";
        $("result-extra").textContent = "";
      } else {
        const seconds = s.started_at && s.updated_at ? (new Date(s.updated_at) - new Date(s.started_at)) / 1000 : 0;
        $("result-body").textContent =
          d.fill(this.w("body"), { ...names, duration: d.duration(seconds) }) + " " +
          d.t("succeeded_contents", {
            format: d.formatName(result.format, result.format_label),
            tables: d.plural("table_count", result.tables || 0, { n: d.number(result.tables || 0) }),
            size: d.size(result.size || 0),
          });
        $("result-extra").textContent = result.prerestore ? d.t("prerestore", { name: result.prerestore }) : "";
        if (result.sign_in_again) {
          const line = document.createElement("p");
          d.say(line, d.t("signin_after_restore"), d.urls.login, d.t("signin_link"));
          box.append(line);
        }
      }
      // One final state: the ending replaces the live part; the error is said
      // once, in the ending (the event log, which repeats it, stays folded).
      $("tracker-live").hidden = true;
      $("tracker-log").open = false;
      const notify = $("notify-line");
      if (notify) notify.hidden = true;
      box.hidden = false;
      const another = $("tracker-another");
      if (another) another.hidden = false;
      this.notifyBrowser(s);
      // The in-app notification has been seen here; a failure (session gone) changes nothing.
      d.postJson(d.urls.notifications_read, { operation: s.id }).catch(() => {});
      if (this.o.onFinish) this.o.onFinish(s);
    }

    setupNotifyButton() {
      const button = $("notify-button"), state = $("notify-state");
      if (!button) return;
      if (!("Notification" in window)) { button.hidden = true; return; }
      const show = () => {
        if (Notification.permission === "granted") { button.hidden = true; state.textContent = this.w("notify_on"); }
        else if (Notification.permission === "denied") { button.hidden = true; state.textContent = d.t("notify_blocked"); }
      };
      show();
      button.addEventListener("click", async () => {
        await Notification.requestPermission();
        show();
      });
    }

    setupCancelButton() {
      const button = $("tracker-cancel");
      if (!button) return;
      button.hidden = !this.o.cancelUrl;
      button.addEventListener("click", async () => {
        if (!window.confirm(this.o.cancelConfirm ? d.t(this.o.cancelConfirm) : this.w("cancel_confirm"))) return;
        button.disabled = true;
        const state = $("tracker-cancel-state");
        let r;
        try {
          r = await d.postJson(this.o.cancelUrl, {});
        } catch (e) {
          button.disabled = false;
          d.say(state, d.t("server_error", { status: "—" }));
          return;
        }
        if (r.status === 200) {
          button.hidden = true;
          d.say(state, d.t("cancel_requested"));
        } else {
          button.disabled = false;
          d.say(state, d.errorText(r));
        }
      });
    }

    notifyBrowser(s) {
      if (!("Notification" in window) || Notification.permission !== "granted") return;
      const title = this.w(s.status);
      const body = this.titleText(s);
      try {
        new Notification(title, { body, tag: "dbkeeper-" + s.id });
      } catch (e) { /* some browsers only allow notifications from a service worker */ }
    }
  }

  d.ProgressTracker = ProgressTracker;
})();
