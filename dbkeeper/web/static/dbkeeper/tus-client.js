/*
 * dbkeeper.tus: a small tus 1.0.0 client for uploading backups from the browser.
 *
 * Load it with <script src="{% static 'dbkeeper/tus-client.js' %}"></script>;
 * it adds `tus` to the page's one global namespace, window.dbkeeper (made
 * here when common.js is not on the page).
 *
 *   const upload = new dbkeeper.tus.Upload(file, {
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
 * format_label, info, …}, …}. It rejects with a dbkeeper.tus.UploadError
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
 * Shortcut: dbkeeper.tus.upload(file, options) starts an Upload and resolves
 * with the stored backup itself (result.backup).
 */
(() => {
  "use strict";

  const TUS_VERSION = "1.0.0";
  const STORAGE_PREFIX = "dbkeeper-tus:";
  const MAX_DELAY_MS = 30000;

  class UploadError extends Error {
    constructor(message, fields = {}) {
      super(message);
      this.name = "UploadError";
      this.code = fields.code || "error";
      this.status = fields.status || 0;
      this.result = fields.result || null;
      this.retryable = !!fields.retryable;
    }
  }

  const stopped = () => new UploadError("The upload was stopped.", { code: "aborted" });

  const cookie = (name) => {
    for (const part of document.cookie ? document.cookie.split(";") : []) {
      const pair = part.trim();
      if (pair.startsWith(name + "=")) return decodeURIComponent(pair.slice(name.length + 1));
    }
    return null;
  };

  const base64 = (bytes) => {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text);
  };

  const encodeMetadata = (metadata) => Object.keys(metadata)
    .map((key) => key + " " + base64(new TextEncoder().encode(String(metadata[key]))))
    .join(",");

  // The server's Dbkeeper-Upload-Status once the upload is over, else null.
  const finished = (status) => (status && status !== "receiving" ? status : null);

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The server's JSON error as an UploadError, retryable or not.
  const errorFrom = (xhr, fallback) => {
    let body = {};
    try { body = JSON.parse(xhr.responseText || "{}"); } catch (e) { body = {}; }
    const error = body.error || {};
    const status = xhr.status;
    const retryable = status === 409 || status === 423 || status === 460 || (status >= 500 && status !== 507) ||
      (status === 400 && error.code === "incomplete_chunk");
    return new UploadError(error.message || fallback + " (HTTP " + status + ")",
      { code: error.code || "http_" + status, status, retryable });
  };

  class Upload {
    constructor(file, options) {
      if (!options || !options.endpoint) throw new Error("dbkeeper.tus.Upload needs options.endpoint");
      this.file = file;
      this.options = {
        chunkSize: 8 * 1024 * 1024, checksum: true, csrfToken: null, headers: {}, maxRetries: 12,
        onProgress: () => {}, onResume: () => {}, onRetry: () => {}, onStatus: () => {},
        ...options,
      };
      this.endpoint = new URL(options.endpoint, window.location.href).href;
      this.url = null;
      this.offset = 0;
      this.xhr = null;
      this.aborted = false;
    }

    storageKey() {
      const f = this.file;
      return STORAGE_PREFIX + this.endpoint + ":" + f.name + ":" + f.size + ":" + f.lastModified;
    }

    headers(method) {
      const headers = { "Tus-Resumable": TUS_VERSION, ...this.options.headers };
      const csrf = this.options.csrfToken || cookie("csrftoken");
      if (method !== "HEAD" && method !== "GET" && csrf && !headers.Authorization) headers["X-CSRFToken"] = csrf;
      return headers;
    }

    // One HTTP request (XHR, for upload progress); resolves with the XHR whatever
    // its status, rejects on a network error.
    request(method, url, body, extraHeaders, onUploadProgress) {
      return new Promise((resolve, reject) => {
        if (this.aborted) { reject(stopped()); return; }
        const xhr = new XMLHttpRequest();
        this.xhr = xhr;
        xhr.open(method, url, true);
        const headers = { ...this.headers(method), ...(extraHeaders || {}) };
        for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
        if (onUploadProgress) xhr.upload.onprogress = (e) => onUploadProgress(e.loaded);
        xhr.onload = () => resolve(xhr);
        xhr.onerror = () => reject(new UploadError("The connection to the server was lost.", { code: "network", retryable: true }));
        xhr.onabort = () => reject(stopped());
        xhr.send(body === undefined ? null : body);
      });
    }

    // HEAD: how much the server has. Null when the stored upload is gone.
    async head() {
      const xhr = await this.request("HEAD", this.url);
      if (xhr.status === 404 || xhr.status === 410) return null;
      if (xhr.status !== 200) throw errorFrom(xhr, "The server did not say how much it has");
      return {
        offset: parseInt(xhr.getResponseHeader("Upload-Offset"), 10),
        status: xhr.getResponseHeader("Dbkeeper-Upload-Status") || "receiving",
      };
    }

    async create() {
      this.options.onStatus("creating");
      const xhr = await this.request("POST", this.endpoint, undefined, {
        "Upload-Length": String(this.file.size),
        "Upload-Metadata": encodeMetadata({ filename: this.file.name, filetype: this.file.type || "" }),
      });
      if (xhr.status !== 201) throw errorFrom(xhr, "The server refused to start the upload");
      this.url = new URL(xhr.getResponseHeader("Location"), this.endpoint).href;
      this.offset = 0;
      this.finishedStatus = finished(xhr.getResponseHeader("Dbkeeper-Upload-Status"));
      try { localStorage.setItem(this.storageKey(), this.url); } catch (e) { /* private mode: no resume after reload */ }
    }

    async checksumHeader(bytes) {
      if (!this.options.checksum || !(window.crypto && window.crypto.subtle)) return {};
      const digest = await window.crypto.subtle.digest("SHA-256", bytes);
      return { "Upload-Checksum": "sha256 " + base64(digest) };
    }

    // PATCH one chunk from this.offset, then take the server's new offset.
    async sendChunk() {
      const end = Math.min(this.offset + this.options.chunkSize, this.file.size);
      const bytes = await this.file.slice(this.offset, end).arrayBuffer();
      const headers = {
        "Upload-Offset": String(this.offset),
        "Content-Type": "application/offset+octet-stream",
        ...(await this.checksumHeader(bytes)),
      };
      const start = this.offset;
      if (end === this.file.size) this.options.onStatus("storing");
      const xhr = await this.request("PATCH", this.url, bytes, headers, (loaded) => {
        this.options.onProgress(Math.min(start + loaded, this.file.size), this.file.size);
      });
      const over = finished(xhr.getResponseHeader("Dbkeeper-Upload-Status"));
      // 422 on the last part: the file arrived but was not kept; the result says why.
      if (xhr.status !== 204 && !(xhr.status === 422 && over)) throw errorFrom(xhr, "The server refused a part of the file");
      this.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      this.finishedStatus = over;
      this.options.onProgress(this.offset, this.file.size);
    }

    async result() {
      const xhr = await this.request("GET", this.url + "/result");
      if (xhr.status !== 200) throw errorFrom(xhr, "The server did not give the upload's result");
      return JSON.parse(xhr.responseText);
    }

    // Run `step` until it succeeds, waiting longer after each retryable failure;
    // with `resync`, ask the server for its offset before each new try.
    async withRetries(step, resync) {
      for (let attempt = 0; ; attempt++) {
        try {
          if (attempt > 0 && resync) await this.resync();
          return await step();
        } catch (error) {
          if (!(error instanceof UploadError) || !error.retryable || attempt >= this.options.maxRetries) throw error;
          if (error.status === 409) continue;  // the server has more (or less) than we thought: resync at once
          const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** attempt);
          this.options.onRetry(error, delay, attempt + 1);
          await sleep(delay);
          if (this.aborted) throw stopped();
        }
      }
    }

    // After a failure: take the server's offset as the truth.
    async resync() {
      const state = await this.head();
      if (state === null) {
        this.forget();
        throw new UploadError("The server no longer has this upload (it expired or was cancelled); pick the file again to start over.",
          { code: "upload_gone", status: 404 });
      }
      this.offset = state.offset;
      this.finishedStatus = finished(state.status);
    }

    forget() {
      try { localStorage.removeItem(this.storageKey()); } catch (e) { /* nothing stored */ }
    }

    async start() {
      this.aborted = false;
      let stored = null;
      try { stored = localStorage.getItem(this.storageKey()); } catch (e) { stored = null; }
      if (stored) {
        this.url = stored;
        const state = await this.withRetries(() => this.head());
        if (state === null) {
          this.forget();
          this.url = null;
        } else {
          this.offset = state.offset;
          this.finishedStatus = finished(state.status);
          this.options.onResume(this.offset);
        }
      }
      if (!this.url) await this.withRetries(() => this.create());
      this.options.onStatus("uploading");
      this.options.onProgress(this.offset, this.file.size);
      while (!this.finishedStatus) {
        await this.withRetries(() => (this.finishedStatus ? null : this.sendChunk()), true);
      }
      let result = await this.withRetries(() => this.result());
      while (result.status === "completing") {  // another request is still storing it
        await sleep(1000);
        result = await this.withRetries(() => this.result());
      }
      this.forget();
      this.options.onStatus("done");
      if (result.status !== "stored") {
        const error = result.error || {};
        throw new UploadError(error.message || "The file was not stored (" + result.status + ").",
          { code: error.code || result.status, status: 200, result });
      }
      return result;
    }

    abort() {
      this.aborted = true;
      if (this.xhr) this.xhr.abort();
    }

    async cancel() {
      this.abort();
      this.forget();
      if (this.url) {
        this.aborted = false;
        try { await this.request("DELETE", this.url); } finally { this.aborted = true; }
      }
    }
  }

  const upload = async (file, options) => (await new Upload(file, options).start()).backup;

  window.dbkeeper = window.dbkeeper || {};
  window.dbkeeper.tus = { Upload, UploadError, upload, TUS_VERSION };
})();
