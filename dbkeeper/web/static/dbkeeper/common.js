/* dbkeeper: helpers shared by the pages. Sentences come translated from the
   server (#dbkeeper-strings); addresses come from the server too
   (#dbkeeper-urls), so the pages work under any URL prefix. */
(function () {
  "use strict";

  function readJson(id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
  }

  var strings = readJson("dbkeeper-strings", {});
  var urls = readJson("dbkeeper-urls", {});
  var lang = document.documentElement.lang || "en";
  var numberFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

  /* t("key", {name: value}) -> the translated sentence with {name} filled in. */
  function t(key, values) {
    var text = strings[key] || key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined ? String(values[name]) : whole;
    });
  }

  function number(n) { return numberFormat.format(n); }

  function size(bytes) {
    var keys = ["size_bytes", "size_kb", "size_mb", "size_gb", "size_tb"];
    var n = Number(bytes) || 0, i = 0;
    while (n >= 1024 && i < keys.length - 1) { n /= 1024; i++; }
    return t(keys[i], { n: i === 0 ? number(Math.round(n)) : number(n) });
  }

  function duration(seconds) {
    var s = Math.max(0, Math.round(Number(seconds) || 0));
    if (s < 60) return t("time_s", { s: number(s) });
    if (s < 3600) return t("time_m_s", { m: number(Math.floor(s / 60)), s: number(s % 60) });
    return t("time_h_m", { h: number(Math.floor(s / 3600)), m: number(Math.floor((s % 3600) / 60)) });
  }

  function quantity(n, unit) {
    if (unit === "bytes") return size(n);
    var word = strings["unit_" + unit] || unit || "";
    return (number(n) + " " + word).trim();
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* POST JSON with the session and its CSRF token; resolves to {status, data}
     (data is null when the answer is not JSON); rejects on a network error. */
  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: null }; }
      );
    });
  }

  function getJson(url) {
    return fetch(url, {
      credentials: "same-origin", redirect: "manual", cache: "no-store", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: null }; }
      );
    });
  }

  function errorText(result) {
    if (result && result.data && result.data.error && result.data.error.message) return result.data.error.message;
    return t("server_error", { status: result ? result.status : "?" });
  }

  /* Put text (never HTML) into an element, optionally followed by a link. */
  function say(el, text, linkHref, linkText) {
    el.textContent = text;
    if (linkHref) {
      el.appendChild(document.createTextNode(" "));
      var a = document.createElement("a");
      a.href = linkHref;
      a.textContent = linkText;
      el.appendChild(a);
    }
    el.hidden = false;
  }

  // The language switch applies as soon as a language is picked.
  var select = document.getElementById("language-select");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }

  // Notifications waiting for the user: dismissed for good with one click.
  document.querySelectorAll("#notifications .notification .dismiss").forEach(function (button) {
    button.addEventListener("click", function () {
      var box = button.closest(".notification");
      postJson(urls.notifications_read, { id: box.dataset.id }).catch(function () {});
      box.remove();
    });
  });

  window.dbkeeper = {
    t: t, strings: strings, urls: urls, lang: lang, number: number, size: size, duration: duration,
    quantity: quantity, postJson: postJson, getJson: getJson, errorText: errorText, say: say, readJson: readJson
  };
})();
