/*
 * DbkeeperTus: a small tus 1.0.0 client for uploading backups from the browser.
 *
 * Load it with <script src="{% static 'dbkeeper/tus-client.js' %}"></script>;
 * it defines the global `DbkeeperTus` (usable from classic and module scripts).
 *
 *   const upload = new DbkeeperTus.Upload(file, {
 *     endpoint: "/api/uploads/",    // the tus creation URL (required)
 *     chunkSize: 8 * 1024 * 1024,   // bytes per PATCH request
 *     checksum: true,               // send Upload-Checksum (sha256, crypto.subtle) when the
 *                                   // page is a secure context (https, localhost, 127.0.0.1)
 *     csrfToken: null,              // defaults to the "csrftoken" cookie (session sign-in)
 *     headers: {},                  // extra headers, e.g. {Authorization: "Bearer dbk_…"}
 *     maxRetries: 12,               // consecutive failed attempts before giving up
 *     onProgress(sent, total) {},   // bytes the server has, or that are on their way
 *     onResume(offset) {},          // an earlier upload of this file continues at offset
 *     onRetry(error, delayMs, attempt) {}, // a request failed; the next try is in delayMs
 *     onStatus(text) {},            // "creating", "uploading", "storing", "done"
 *   });
 *   const result = await upload.start();
 *
 * start() resolves with the server's result JSON when the file is stored as a
 * backup: {id, status: "stored", backup: {id, name, size, sha256, format,
 * format_label, info, …}, …}. It rejects with a DbkeeperTus.UploadError
 * ({message, code, status, result}) when the server refuses the file (code
 * "backup_rejected" and others, message a sentence for the user), the session
 * expired (status 401, code "session_expired"), the disk is full (507), or
 * the network stayed down for all retries ("network").
 *
 * Resuming: after a network error the client waits (1 s, 2 s, 4 s … up to
 * 30 s), asks the server how much it has (HEAD) and continues from there.
 * The upload URL is kept in localStorage, keyed by endpoint, file name, size
 * and modification time, so picking the same file again after a page reload
 * continues the same upload instead of starting over.
 *
 * upload.abort() stops sending (the upload can still be resumed later);
 * upload.cancel() also deletes it on the server and forgets it.
 *
 * Shortcut: DbkeeperTus.upload(file, options) starts an Upload and resolves
 * with the stored backup itself (result.backup).
 */
(function (global) {
  "use strict";

  var TUS_VERSION = "1.0.0";
  var STORAGE_PREFIX = "dbkeeper-tus:";
  var MAX_DELAY_MS = 30000;

  function UploadError(message, fields) {
    this.name = "UploadError";
    this.message = message;
    fields = fields || {};
    this.code = fields.code || "error";
    this.status = fields.status || 0;
    this.result = fields.result || null;
    this.retryable = !!fields.retryable;
  }
  UploadError.prototype = Object.create(Error.prototype);
  UploadError.prototype.constructor = UploadError;

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var pair = parts[i].trim();
      if (pair.indexOf(name + "=") === 0) return decodeURIComponent(pair.slice(name.length + 1));
    }
    return null;
  }

  function base64(bytes) {
    var text = "";
    var view = new Uint8Array(bytes);
    for (var i = 0; i < view.length; i++) text += String.fromCharCode(view[i]);
    return btoa(text);
  }

  function encodeMetadata(metadata) {
    return Object.keys(metadata).map(function (key) {
      return key + " " + base64(new TextEncoder().encode(String(metadata[key])));
    }).join(",");
  }

  // The server's Dbkeeper-Upload-Status once the upload is over, else null.
  function finished(status) {
    return status && status !== "receiving" ? status : null;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function Upload(file, options) {
    if (!options || !options.endpoint) throw new Error("DbkeeperTus.Upload needs options.endpoint");
    this.file = file;
    this.options = Object.assign({
      chunkSize: 8 * 1024 * 1024, checksum: true, csrfToken: null, headers: {}, maxRetries: 12,
      onProgress: function () {}, onResume: function () {}, onRetry: function () {}, onStatus: function () {},
    }, options);
    this.endpoint = new URL(options.endpoint, global.location.href).href;
    this.url = null;
    this.offset = 0;
    this.xhr = null;
    this.aborted = false;
  }

  Upload.prototype.storageKey = function () {
    var f = this.file;
    return STORAGE_PREFIX + this.endpoint + ":" + f.name + ":" + f.size + ":" + f.lastModified;
  };

  Upload.prototype.headers = function (method) {
    var headers = Object.assign({"Tus-Resumable": TUS_VERSION}, this.options.headers);
    var csrf = this.options.csrfToken || cookie("csrftoken");
    if (method !== "HEAD" && method !== "GET" && csrf && !headers.Authorization) headers["X-CSRFToken"] = csrf;
    return headers;
  };

  // One HTTP request; resolves with the XHR whatever its status, rejects on a network error.
  Upload.prototype.request = function (method, url, body, extraHeaders, onUploadProgress) {
    var self = this;
    return new Promise(function (resolve, reject) {
      if (self.aborted) return reject(new UploadError("The upload was stopped.", {code: "aborted"}));
      var xhr = new XMLHttpRequest();
      self.xhr = xhr;
      xhr.open(method, url, true);
      var headers = Object.assign(self.headers(method), extraHeaders || {});
      Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      if (onUploadProgress) xhr.upload.onprogress = function (e) { onUploadProgress(e.loaded); };
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = function () {
        reject(new UploadError("The connection to the server was lost.", {code: "network", retryable: true}));
      };
      xhr.onabort = function () { reject(new UploadError("The upload was stopped.", {code: "aborted"})); };
      xhr.send(body === undefined ? null : body);
    });
  };

  // The server's JSON error as an UploadError, retryable or not.
  function errorFrom(xhr, fallback) {
    var body = {};
    try { body = JSON.parse(xhr.responseText || "{}"); } catch (e) { body = {}; }
    var error = body.error || {};
    var status = xhr.status;
    var retryable = status === 409 || status === 423 || status === 460 || (status >= 500 && status !== 507) ||
      (status === 400 && error.code === "incomplete_chunk");
    return new UploadError(error.message || fallback + " (HTTP " + status + ")",
      {code: error.code || "http_" + status, status: status, retryable: retryable});
  }

  // HEAD: how much the server has. Null when the stored upload is gone.
  Upload.prototype.head = async function () {
    var xhr = await this.request("HEAD", this.url);
    if (xhr.status === 404 || xhr.status === 410) return null;
    if (xhr.status !== 200) throw errorFrom(xhr, "The server did not say how much it has");
    return {
      offset: parseInt(xhr.getResponseHeader("Upload-Offset"), 10),
      status: xhr.getResponseHeader("Dbkeeper-Upload-Status") || "receiving",
    };
  };

  Upload.prototype.create = async function () {
    this.options.onStatus("creating");
    var xhr = await this.request("POST", this.endpoint, undefined, {
      "Upload-Length": String(this.file.size),
      "Upload-Metadata": encodeMetadata({filename: this.file.name, filetype: this.file.type || ""}),
    });
    if (xhr.status !== 201) throw errorFrom(xhr, "The server refused to start the upload");
    this.url = new URL(xhr.getResponseHeader("Location"), this.endpoint).href;
    this.offset = 0;
    this.finishedStatus = finished(xhr.getResponseHeader("Dbkeeper-Upload-Status"));
    try { localStorage.setItem(this.storageKey(), this.url); } catch (e) { /* private mode: no resume after reload */ }
  };

  Upload.prototype.checksumHeader = async function (bytes) {
    if (!this.options.checksum || !(global.crypto && global.crypto.subtle)) return {};
    var digest = await global.crypto.subtle.digest("SHA-256", bytes);
    return {"Upload-Checksum": "sha256 " + base64(digest)};
  };

  // PATCH one chunk from this.offset; resolves with the new offset.
  Upload.prototype.sendChunk = async function () {
    var self = this;
    var end = Math.min(this.offset + this.options.chunkSize, this.file.size);
    var bytes = await this.file.slice(this.offset, end).arrayBuffer();
    var headers = Object.assign({
      "Upload-Offset": String(this.offset),
      "Content-Type": "application/offset+octet-stream",
    }, await this.checksumHeader(bytes));
    var start = this.offset;
    if (end === this.file.size) this.options.onStatus("storing");
    var xhr = await this.request("PATCH", this.url, bytes, headers, function (loaded) {
      self.options.onProgress(Math.min(start + loaded, self.file.size), self.file.size);
    });
    if (xhr.status !== 204) throw errorFrom(xhr, "The server refused a part of the file");
    this.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
    this.finishedStatus = finished(xhr.getResponseHeader("Dbkeeper-Upload-Status"));
    this.options.onProgress(this.offset, this.file.size);
  };

  Upload.prototype.result = async function () {
    var xhr = await this.request("GET", this.url + "/result");
    if (xhr.status !== 200) throw errorFrom(xhr, "The server did not give the upload's result");
    return JSON.parse(xhr.responseText);
  };

  // Run `step` until it succeeds, waiting longer after each retryable failure;
  // with `resync`, ask the server for its offset before each new try.
  Upload.prototype.withRetries = async function (step, resync) {
    for (var attempt = 0; ; attempt++) {
      try {
        if (attempt > 0 && resync) await this.resync();
        return await step();
      } catch (error) {
        if (!(error instanceof UploadError) || !error.retryable || attempt >= this.options.maxRetries) throw error;
        if (error.status === 409) continue;  // the server has more (or less) than we thought: resync at once
        var delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, attempt));
        this.options.onRetry(error, delay, attempt + 1);
        await sleep(delay);
        if (this.aborted) throw new UploadError("The upload was stopped.", {code: "aborted"});
      }
    }
  };

  // After a failure: take the server's offset as the truth.
  Upload.prototype.resync = async function () {
    var state = await this.head();
    if (state === null) {
      this.forget();
      throw new UploadError("The server no longer has this upload (it expired or was cancelled); pick the file again to start over.",
        {code: "upload_gone", status: 404});
    }
    this.offset = state.offset;
    this.finishedStatus = finished(state.status);
  };

  Upload.prototype.forget = function () {
    try { localStorage.removeItem(this.storageKey()); } catch (e) { /* nothing stored */ }
  };

  Upload.prototype.start = async function () {
    var self = this;
    this.aborted = false;
    var stored = null;
    try { stored = localStorage.getItem(this.storageKey()); } catch (e) { stored = null; }
    if (stored) {
      this.url = stored;
      var state = await this.withRetries(function () { return self.head(); });
      if (state === null) {
        this.forget();
        this.url = null;
      } else {
        this.offset = state.offset;
        this.finishedStatus = finished(state.status);
        this.options.onResume(this.offset);
      }
    }
    if (!this.url) await this.withRetries(function () { return self.create(); });
    this.options.onStatus("uploading");
    this.options.onProgress(this.offset, this.file.size);
    while (!this.finishedStatus) {
      await this.withRetries(function () { return self.finishedStatus ? null : self.sendChunk(); }, true);
    }
    var result = await this.withRetries(function () { return self.result(); });
    while (result.status === "completing") {  // another request is still storing it
      await sleep(1000);
      result = await this.withRetries(function () { return self.result(); });
    }
    this.forget();
    this.options.onStatus("done");
    if (result.status !== "stored") {
      var error = result.error || {};
      throw new UploadError(error.message || "The file was not stored (" + result.status + ").",
        {code: error.code || result.status, status: 200, result: result});
    }
    return result;
  };

  Upload.prototype.abort = function () {
    this.aborted = true;
    if (this.xhr) this.xhr.abort();
  };

  Upload.prototype.cancel = async function () {
    this.abort();
    this.forget();
    if (this.url) {
      this.aborted = false;
      try { await this.request("DELETE", this.url); } finally { this.aborted = true; }
    }
  };

  function upload(file, options) {
    return new Upload(file, options).start().then(function (result) { return result.backup; });
  }

  global.DbkeeperTus = {Upload: Upload, UploadError: UploadError, upload: upload, TUS_VERSION: TUS_VERSION};
})(typeof window !== "undefined" ? window : this);
