/* dbkeeper: the progress view of one operation. It is where the restore
   page goes once a restore has started, so a reload lands here and resumes
   tracking with the token this tab holds (sessionStorage), even when the login
   session has expired meanwhile. Opened again from the operations page or a
   notification, it asks for a new token (for the user's own restore), or else
   follows the restore with the login session alone. */
(async () => {
  "use strict";

  const d = window.dbkeeper;
  const op = d.readJson("dbkeeper-operation", {});
  const key = "dbkeeper:token:" + op.id;
  let tracking = null;
  try { tracking = JSON.parse(sessionStorage.getItem("dbkeeper:tracking") || "null"); } catch (e) { tracking = null; }
  if (tracking && tracking.id !== op.id) tracking = null;

  const go = (token) => {
    new d.ProgressTracker({
      statusUrl: op.status_url, token,
      source: op.source_name || (tracking && tracking.source) || "",
      target: op.target || (tracking && tracking.target) || "",
      database: op.database || "",
      progressUrl: window.location.pathname, operationId: op.id, kind: op.kind || "", wording: op.wording || "",
      format: op.format || (tracking && tracking.format) || "",
      cancelUrl: op.cancel_url || (tracking && tracking.cancel_url) || "",
    }).start();
  };

  const token = (tracking && tracking.token) || sessionStorage.getItem(key) || "";
  if (token || !op.own) {
    go(token);
    return;
  }
  let r;
  try {
    r = await d.postJson(op.token_url, {});
  } catch (e) {
    go("");
    return;
  }
  if (r.status === 201 && r.data && r.data.token) {
    sessionStorage.setItem(key, r.data.token);
    go(r.data.token);
  } else {
    go("");
  }
})();
