/* dbkeeper: the progress view of one operation, opened again (from the
   operations page or a notification). It uses the token this tab already
   holds for the operation, or asks for a new one (for the user's own running
   restore), or else follows it with the login session alone. */
(function () {
  "use strict";

  var d = window.dbkeeper;
  var op = d.readJson("dbkeeper-operation", {});
  var key = "dbkeeper:token:" + op.id;
  var tracking = null;
  try { tracking = JSON.parse(sessionStorage.getItem("dbkeeper:tracking") || "null"); } catch (e) { tracking = null; }

  function go(token) {
    new window.ProgressTracker({
      statusUrl: op.status_url, token: token, source: op.source_name, target: op.target,
      progressUrl: window.location.pathname, operationId: op.id
    }).start();
  }

  var token = sessionStorage.getItem(key) || (tracking && tracking.id === op.id ? tracking.token : "");
  if (token || !op.own) {
    go(token);
    return;
  }
  d.postJson(op.token_url, {}).then(function (r) {
    if (r.status === 201 && r.data && r.data.token) {
      sessionStorage.setItem(key, r.data.token);
      go(r.data.token);
    } else {
      go("");
    }
  }, function () { go(""); });
})();
