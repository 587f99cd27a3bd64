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

   new ProgressTracker({statusUrl, token, source, target, operationId,
                        onFinish: function (status) {}}).start() */
(function () {
  "use strict";

  var d = window.dbkeeper;
  var MAX_FAILURES = 5;
  var BACKOFF_SECONDS = [1, 2, 4, 8];
  var POLL_MS = 1000;
  var TIMEOUT_MS = 10000;

  function $(id) { return document.getElementById(id); }

  function ProgressTracker(options) {
    this.o = options;
    this.failures = 0;
    this.stopped = false;
    this.timer = null;
    this.last = null;
  }

  ProgressTracker.prototype.start = function () {
    $("tracker").hidden = false;
    $("tracker-title").textContent = this.o.source && this.o.target
      ? d.t("notify_body", { source: this.o.source, target: this.o.target }) : $("tracker-title").textContent;
    this.setupNotifyButton();
    this.poll();
    return this;
  };

  ProgressTracker.prototype.stop = function () {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  };

  ProgressTracker.prototype.schedule = function (ms) {
    var self = this;
    if (this.stopped) return;
    this.timer = setTimeout(function () { self.poll(); }, ms);
  };

  ProgressTracker.prototype.poll = function () {
    var self = this;
    if (this.stopped) return;
    var headers = { "Accept": "application/json" };
    if (this.o.token) headers["X-Temp-Token"] = this.o.token;
    var controller = window.AbortController ? new AbortController() : null;
    var timeout = setTimeout(function () { if (controller) controller.abort(); }, TIMEOUT_MS);
    fetch(this.o.statusUrl, {
      headers: headers, credentials: "same-origin", cache: "no-store", redirect: "manual",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      clearTimeout(timeout);
      if (response.status === 200) {
        return response.json().then(function (data) { self.received(data); }, function () { self.failed(); });
      }
      if (response.status === 401) return self.halt("signin");
      if (response.status === 403) return self.halt("forbidden");
      if (response.status === 404) return self.halt("not_found");
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        return response.json().then(
          function (data) { self.halt("other", data && data.error ? data.error.message : ""); },
          function () { self.halt("other", ""); }
        );
      }
      // 5xx, 408, 429, an opaque redirect (status 0): the server is in trouble; try again.
      self.failed();
    }, function () {
      clearTimeout(timeout);
      self.failed();
    });
  };

  ProgressTracker.prototype.received = function (status) {
    this.failures = 0;
    $("tracker-notice").hidden = true;
    this.render(status);
    if (status.finished) {
      this.stop();
      this.finish(status);
    } else {
      this.schedule(POLL_MS);
    }
  };

  ProgressTracker.prototype.failed = function () {
    this.failures += 1;
    if (this.failures >= MAX_FAILURES) {
      $("tracker-notice").hidden = true;
      return this.halt("lost");
    }
    d.say($("tracker-notice"), d.t("reconnecting", { n: this.failures, max: MAX_FAILURES }));
    this.schedule(BACKOFF_SECONDS[Math.min(this.failures, BACKOFF_SECONDS.length) - 1] * 1000);
  };

  /* Stop polling and tell the user why, with the way forward. */
  ProgressTracker.prototype.halt = function (why, detail) {
    this.stop();
    var alert = $("tracker-alert");
    alert.dataset.reason = why;
    if (why === "lost") {
      d.say(alert, d.t("lost"), d.urls.operations, d.t("lost_link"));
    } else if (why === "signin") {
      var next = this.o.progressUrl || window.location.pathname;
      d.say(alert, d.t("signin_again"), d.urls.login + "?next=" + encodeURIComponent(next), d.t("signin_link"));
    } else if (why === "forbidden") {
      d.say(alert, d.t("forbidden"));
    } else if (why === "not_found") {
      d.say(alert, d.t("not_found"));
    } else {
      d.say(alert, detail || d.t("server_error", { status: "4xx" }), d.urls.operations, d.t("lost_link"));
    }
  };

  ProgressTracker.prototype.render = function (s) {
    this.last = s;
    var stageKey = s.status === "queued" ? "stage_queued" : "stage_" + s.stage;
    $("tracker-stage").textContent = d.strings[stageKey] || s.stage;
    var percent = Math.max(0, Math.min(100, Number(s.percent) || 0));
    $("tracker-fill").style.inlineSize = percent + "%";
    $("tracker-bar").setAttribute("aria-valuenow", String(Math.round(percent)));
    $("tracker-percent").textContent = d.number(percent) + " %";
    $("tracker-count").textContent = s.total ? d.t("done_of_total", { done: d.quantity(s.done, s.unit), total: d.quantity(s.total, s.unit) }) : "";
    if (s.finished) {
      $("tracker-eta").textContent = "";
    } else if (s.eta_seconds !== null && s.eta_seconds !== undefined) {
      $("tracker-eta").textContent = d.t("eta", { time: d.duration(s.eta_seconds) });
    } else {
      $("tracker-eta").textContent = s.status === "running" ? d.t("eta_unknown") : "";
    }
    $("tracker-message").textContent = s.message || "";
    $("tracker").dataset.status = s.status;
    this.renderEvents($("tracker-events"), s.events || []);
  };

  ProgressTracker.prototype.renderEvents = function (list, events) {
    list.textContent = "";
    events.forEach(function (e) {
      var li = document.createElement("li");
      li.className = "event " + (e.level || "info");
      var time = document.createElement("time");
      time.dateTime = e.at;
      time.textContent = new Date(e.at).toLocaleTimeString(d.lang);
      li.appendChild(time);
      li.appendChild(document.createTextNode(" " + e.message));
      list.appendChild(li);
    });
  };

  ProgressTracker.prototype.finish = function (s) {
    var box = $("tracker-result");
    var result = s.result || {};
    var names = { source: this.o.source || "", target: result.target || this.o.target || "" };
    box.className = "result " + s.status;
    if (s.status === "succeeded") {
      var seconds = s.started_at && s.updated_at ? (new Date(s.updated_at) - new Date(s.started_at)) / 1000 : 0;
      $("result-title").textContent = d.t("succeeded_title");
      $("result-body").textContent = d.t("succeeded_body", { source: names.source, target: names.target, duration: d.duration(seconds) })
        + " " + d.t("succeeded_contents", { format: result.format_label || result.format || "", tables: d.number(result.tables || 0), size: d.size(result.size || 0) });
      $("result-extra").textContent = result.prerestore ? d.t("prerestore", { name: result.prerestore }) : "";
      if (result.sign_in_again) {
        var line = document.createElement("p");
        d.say(line, d.t("signin_after_restore"), d.urls.login, d.t("signin_link"));
        box.appendChild(line);
      }
    } else {
      $("result-title").textContent = d.t(s.status === "cancelled" ? "cancelled_title" : "failed_title");
      $("result-body").textContent = s.error ? s.error.message : (s.message || "");
      $("result-extra").textContent = d.t("live_unchanged");
      $("tracker-log").open = true;
    }
    box.hidden = false;
    var another = $("tracker-another");
    if (another) another.hidden = false;
    this.notifyBrowser(s, names);
    // The in-app notification has been seen here; a failure (session gone) changes nothing.
    d.postJson(d.urls.notifications_read, { operation: s.id }).catch(function () {});
    if (this.o.onFinish) this.o.onFinish(s);
  };

  ProgressTracker.prototype.setupNotifyButton = function () {
    var button = $("notify-button"), state = $("notify-state");
    if (!button) return;
    if (!("Notification" in window)) { button.hidden = true; return; }
    function show() {
      if (Notification.permission === "granted") { button.hidden = true; state.textContent = d.t("notify_on"); }
      else if (Notification.permission === "denied") { button.hidden = true; state.textContent = d.t("notify_blocked"); }
    }
    show();
    button.onclick = function () {
      var asked = Notification.requestPermission(show);
      if (asked && asked.then) asked.then(show);
    };
  };

  ProgressTracker.prototype.notifyBrowser = function (s, names) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      new Notification(d.t("notify_title_" + s.status), { body: d.t("notify_body", names), tag: "dbkeeper-" + s.id });
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  };

  window.ProgressTracker = ProgressTracker;
})();
