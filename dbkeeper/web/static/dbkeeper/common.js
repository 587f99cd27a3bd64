/* dbkeeper: helpers shared by the pages, in the one global namespace
   window.dbkeeper (the other scripts add to it: ProgressTracker, tus).
   Sentences come translated from the server (#dbkeeper-strings); addresses
   come from the server too (#dbkeeper-urls), so the pages work under any URL
   prefix. */
(() => {
  "use strict";

  const readJson = (id, fallback) => {
    const el = document.getElementById(id);
    if (!el) return fallback;
    try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
  };

  const strings = readJson("dbkeeper-strings", {});
  const urls = readJson("dbkeeper-urls", {});
  const lang = document.documentElement.lang || "en";
  const numberFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

  const pluralRules = new Intl.PluralRules(lang);

  /* fill("{name} text", {name: value}) -> the text with each {name} it has a value for filled in. */
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (whole, name) =>
    values && values[name] !== undefined ? String(values[name]) : whole);

  /* el("p", {className: "hint"}, child, ...) -> a new element with those
     properties and children (text or nodes; empty ones left out). */
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    node.append(...children.filter((c) => c !== null && c !== undefined && c !== ""));
    return node;
  };

  /* A sentence handed over as plural forms: the form for count n. */
  const form = (forms, n) => {
    if (typeof forms === "string") return forms;
    return forms[pluralRules.select(Number(n) || 0)] || forms.other || "";
  };

  /* t("key", {name: value}) -> the translated sentence with {name} filled in. */
  const t = (key, values) => fill(key in strings ? form(strings[key], 0) : key, values);

  /* plural("key", n, {name: value}) -> the form of the sentence for n, filled in. */
  const plural = (key, n, values) => fill(key in strings ? form(strings[key], n) : key, values);

  /* Like t(), but a value may be a DOM node (e.g. a <strong>): the sentence as
     a list of nodes and strings, for element.replaceChildren(...). */
  const tNodes = (key, values) => {
    const parts = [];
    let at = 0;
    const text = key in strings ? form(strings[key], 0) : key;
    for (const match of text.matchAll(/\{(\w+)\}/g)) {
      const value = values ? values[match[1]] : undefined;
      if (value === undefined) continue;
      parts.push(text.slice(at, match.index), value instanceof Node ? value : String(value));
      at = match.index + match[0].length;
    }
    parts.push(text.slice(at));
    return parts.filter((part) => part !== "");
  };

  const number = (n) => numberFormat.format(n);

  /* A size in the page's units; a no-break space keeps the number by its unit. */
  const size = (bytes) => {
    const keys = ["size_bytes", "size_kb", "size_mb", "size_gb", "size_tb"];
    let n = Number(bytes) || 0, i = 0;
    while (n >= 1024 && i < keys.length - 1) { n /= 1024; i++; }
    return t(keys[i], { n: i === 0 ? number(Math.round(n)) : number(n) }).replace(/ /g, "\u00a0");
  };

  /* A backup format's name in the page's language. */
  const formatName = (code, label) => (strings.formats && strings.formats[code]) || label || code || "";

  const duration = (seconds) => {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    if (s < 60) return t("time_s", { s: number(s) });
    if (s < 3600) return t("time_m_s", { m: number(Math.floor(s / 60)), s: number(s % 60) });
    return t("time_h_m", { h: number(Math.floor(s / 3600)), m: number(Math.floor((s % 3600) / 60)) });
  };

  const quantity = (n, unit) => {
    if (unit === "bytes") return size(n);
    const word = strings["unit_" + unit] || unit || "";
    return (number(n) + " " + word).trim();
  };

  /* What an operation has done of its total, saying what it counts: bytes of
     what (by the backup's format, when known) or how many of which things. */
  const progressCount = (done, total, unit, format) => {
    if (unit === "bytes") {
      const key = "count_bytes_" + format;
      return t(key in strings ? key : "done_of_total", { done: size(done), total: size(total) });
    }
    if ("count_" + unit in strings) return plural("count_" + unit, total, { done: number(done), total: number(total) });
    return t("done_of_total", { done: quantity(done, unit), total: quantity(total, unit) });
  };

  const csrfToken = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  /* The answer as {status, data}; data is null when the answer is not JSON. */
  const answer = async (response) => {
    try {
      return { status: response.status, data: await response.json() };
    } catch (e) {
      return { status: response.status, data: null };
    }
  };

  /* POST JSON with the session and its CSRF token; resolves to {status, data};
     rejects on a network error. */
  const postJson = async (url, body) => answer(await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    redirect: "manual",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body || {}),
  }));

  const getJson = async (url) => answer(await fetch(url, {
    credentials: "same-origin", redirect: "manual", cache: "no-store", headers: { "Accept": "application/json" },
  }));

  const errorText = (result) => {
    if (result && result.data && result.data.error && result.data.error.message) return result.data.error.message;
    return t("server_error", { status: result ? result.status : "?" });
  };

  /* Put text (never HTML) into an element, optionally followed by a link. */
  const say = (el, text, linkHref, linkText) => {
    el.textContent = text;
    if (linkHref) {
      el.append(" ");
      const a = document.createElement("a");
      a.href = linkHref;
      a.textContent = linkText;
      el.append(a);
    }
    el.hidden = false;
  };

  // The language switch applies as soon as a language is picked.
  const select = document.getElementById("language-select");
  if (select) {
    select.addEventListener("change", () => select.form.submit());
  }

  // Notifications waiting for the user: dismissed for good with one click.
  document.querySelectorAll("#notifications .notification .dismiss").forEach((button) => {
    button.addEventListener("click", () => {
      const box = button.closest(".notification");
      postJson(urls.notifications_read, { id: box.dataset.id }).catch(() => {});
      box.remove();
    });
  });

  window.dbkeeper = Object.assign(window.dbkeeper || {}, {
    t, plural, tNodes, strings, urls, lang, number, size, formatName, duration, quantity, progressCount, csrfToken,
    postJson, getJson, errorText, say, readJson, fill, el,
  });
})();
