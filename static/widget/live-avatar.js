/*
 * <live-avatar agentid="…">: Parley's chat widget. One file, no dependencies, no build step:
 * load it with a classic <script src>. It talks only to the Parley server it came from (or to
 * the start-session URL in data-endpoint), and emits session-started, message, session-ended
 * and error events on the element for the embedding page. Documented in docs/widget.md.
 */
(function () {
  "use strict";

  var LABELS = {
    en: {
      title: "Chat",
      open: "Open chat",
      close: "Close chat",
      start: "Start conversation",
      restart: "Start again",
      end: "End",
      send: "Send",
      message: "Message",
      transcript: "Conversation",
      you: "You",
      agent: "Agent",
      connecting: "Connecting…",
      calling: "Calling {tool}…",
      ended: "The conversation has ended.",
      err_unavailable: "This assistant is not available right now.",
      err_origin: "This assistant is not available on this site.",
      err_limit: "Too many conversations right now. Please try again in a minute.",
      err_used: "This link has already been used. Please ask for a new one.",
      err_expired: "This link has expired. Please ask for a new one.",
      err_connection: "The connection was lost. Please try again.",
      err_busy: "Still answering. Please wait for the reply to finish.",
      err_ended: "This conversation has ended. Start again to go on.",
      err_failed: "Something went wrong. Please try again.",
    },
    de: {
      title: "Chat",
      open: "Chat öffnen",
      close: "Chat schließen",
      start: "Unterhaltung beginnen",
      restart: "Neu beginnen",
      end: "Beenden",
      send: "Senden",
      message: "Nachricht",
      transcript: "Unterhaltung",
      you: "Sie",
      agent: "Assistent",
      connecting: "Verbinde…",
      calling: "Rufe {tool} auf…",
      ended: "Die Unterhaltung ist beendet.",
      err_unavailable: "Dieser Assistent ist gerade nicht verfügbar.",
      err_origin: "Dieser Assistent ist auf dieser Website nicht verfügbar.",
      err_limit: "Gerade laufen zu viele Unterhaltungen. Bitte versuchen Sie es in einer Minute erneut.",
      err_used: "Dieser Link wurde bereits verwendet. Bitte fordern Sie einen neuen an.",
      err_expired: "Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an.",
      err_connection: "Die Verbindung wurde unterbrochen. Bitte versuchen Sie es erneut.",
      err_busy: "Der Assistent antwortet noch. Bitte warten Sie, bis die Antwort fertig ist.",
      err_ended: "Diese Unterhaltung ist beendet. Beginnen Sie neu, um fortzufahren.",
      err_failed: "Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.",
    },
    fr: {
      title: "Chat",
      open: "Ouvrir le chat",
      close: "Fermer le chat",
      start: "Commencer la conversation",
      restart: "Recommencer",
      end: "Terminer",
      send: "Envoyer",
      message: "Message",
      transcript: "Conversation",
      you: "Vous",
      agent: "Assistant",
      connecting: "Connexion…",
      calling: "Appel de {tool}…",
      ended: "La conversation est terminée.",
      err_unavailable: "Cet assistant n’est pas disponible pour le moment.",
      err_origin: "Cet assistant n’est pas disponible sur ce site.",
      err_limit: "Trop de conversations en ce moment. Réessayez dans une minute.",
      err_used: "Ce lien a déjà été utilisé. Demandez-en un nouveau.",
      err_expired: "Ce lien a expiré. Demandez-en un nouveau.",
      err_connection: "La connexion a été perdue. Veuillez réessayer.",
      err_busy: "L’assistant répond encore. Attendez la fin de la réponse.",
      err_ended: "Cette conversation est terminée. Recommencez pour continuer.",
      err_failed: "Une erreur s’est produite. Veuillez réessayer.",
    },
    es: {
      title: "Chat",
      open: "Abrir el chat",
      close: "Cerrar el chat",
      start: "Empezar la conversación",
      restart: "Empezar de nuevo",
      end: "Terminar",
      send: "Enviar",
      message: "Mensaje",
      transcript: "Conversación",
      you: "Tú",
      agent: "Asistente",
      connecting: "Conectando…",
      calling: "Llamando a {tool}…",
      ended: "La conversación ha terminado.",
      err_unavailable: "Este asistente no está disponible ahora mismo.",
      err_origin: "Este asistente no está disponible en este sitio.",
      err_limit: "Hay demasiadas conversaciones ahora. Inténtalo de nuevo en un minuto.",
      err_used: "Este enlace ya se ha usado. Pide uno nuevo.",
      err_expired: "Este enlace ha caducado. Pide uno nuevo.",
      err_connection: "Se perdió la conexión. Inténtalo de nuevo.",
      err_busy: "Todavía está respondiendo. Espera a que termine la respuesta.",
      err_ended: "Esta conversación ha terminado. Empieza de nuevo para seguir.",
      err_failed: "Algo salió mal. Inténtalo de nuevo.",
    },
  };

  var START_PATH = "/v1/start-agent-session";

  /** The labels' language for a lang attribute: "de-AT" speaks German, anything unknown English. */
  function labelLanguage(lang) {
    var base = String(lang || "").toLowerCase().split(/[-_]/)[0];
    return Object.prototype.hasOwnProperty.call(LABELS, base) ? base : "en";
  }

  /** One label in the language, with {name} placeholders filled in. */
  function label(lang, key, vars) {
    var text = LABELS[labelLanguage(lang)][key] || LABELS.en[key] || key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return vars && name in vars ? String(vars[name]) : whole;
    });
  }

  /**
   * The start-session URL when the element has no data-endpoint: the server the script was
   * loaded from, so that one script tag is all an embedding page needs.
   */
  function defaultEndpoint(scriptSrc, pageHref) {
    try {
      return new URL(START_PATH, scriptSrc || pageHref).href;
    } catch (e) {
      return START_PATH;
    }
  }

  /**
   * A server-sent events parser fed text in chunks split anywhere (inside a line, between \r and
   * \n). Calls onEvent({event, data}) for each complete event, as the EventSource spec reads them.
   */
  function createSseParser(onEvent) {
    var buffer = "";
    var eventName = "";
    var dataLines = [];

    function line(text) {
      if (text === "") {
        if (dataLines.length) onEvent({ event: eventName || "message", data: dataLines.join("\n") });
        eventName = "";
        dataLines = [];
        return;
      }
      if (text.charAt(0) === ":") return; // a comment, e.g. a keep-alive
      var colon = text.indexOf(":");
      var field = colon < 0 ? text : text.slice(0, colon);
      var value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "event") eventName = value;
      else if (field === "data") dataLines.push(value);
    }

    return {
      push: function (chunk) {
        buffer += chunk;
        var ends = /\r\n|\r|\n/g;
        var start = 0;
        var match;
        while ((match = ends.exec(buffer))) {
          // A \r at the very end may be the first half of a \r\n still to come.
          if (match[0] === "\r" && match.index === buffer.length - 1) break;
          line(buffer.slice(start, match.index));
          start = match.index + match[0].length;
        }
        buffer = buffer.slice(start);
      },
      end: function () {
        if (buffer.slice(-1) === "\r") line(buffer.slice(0, -1));
        // What is left is an unfinished event, which the spec says to drop.
        buffer = "";
        eventName = "";
        dataLines = [];
      },
    };
  }

  /**
   * Why a request failed, as {code, key}: `code` for the page's error event (the server's most
   * specific reason), `key` the label that tells the visitor. `phase` is "start" or "message".
   */
  function describeError(status, body, phase) {
    body = body || {};
    var reason = (body.details && body.details.reason) || "";
    var code = reason || body.code || (status ? "http_" + status : "network");
    var text = String(body.error || "");
    var key = "err_failed";
    if (!status) key = "err_connection";
    else if (status === 429) key = "err_limit";
    else if (status === 410) key = reason === "single_use_expired" || /expired/i.test(text) ? "err_expired" : "err_used";
    else if (status === 403 && reason === "origin_not_allowed") key = "err_origin";
    else if (phase === "start" && (status === 403 || status === 404)) key = "err_unavailable";
    else if (status === 409) key = reason === "session_ended" ? "err_ended" : "err_busy";
    else if (phase === "message" && (status === 401 || status === 403 || status === 404)) key = "err_ended";
    else if (status >= 500) key = "err_unavailable";
    return { code: code, key: key };
  }

  var STYLE = [
    ":host{--la-color:#4f46e5;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111827}",
    ":host([hidden]),[hidden]{display:none!important}",
    "*{box-sizing:border-box}",
    "button{font:inherit;cursor:pointer;border-radius:8px;border:1px solid transparent;padding:.45em .9em}",
    "button:focus-visible,textarea:focus-visible{outline:3px solid var(--la-color);outline-offset:2px}",
    "button:disabled{opacity:.55;cursor:default}",
    ".primary{background:var(--la-color);color:#fff}",
    ".quiet{background:transparent;color:inherit;border-color:#d1d5db}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;padding:0;",
    "background:var(--la-color);color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.25);z-index:2147483000;display:grid;place-items:center}",
    ".bubble img{width:100%;height:100%;border-radius:50%;object-fit:cover}",
    ".panel{display:flex;flex-direction:column;background:#fff;border:1px solid #e5e7eb;border-radius:14px;overflow:hidden;",
    "box-shadow:0 10px 30px rgba(0,0,0,.18)}",
    ".floating{position:fixed;right:20px;bottom:92px;width:370px;height:min(560px,calc(100vh - 112px));z-index:2147483000}",
    ".inline{width:100%;min-height:380px;height:100%;box-shadow:none}",
    "header{display:flex;align-items:center;gap:.6em;padding:.7em .9em;background:var(--la-color);color:#fff}",
    "header img{width:32px;height:32px;border-radius:50%;object-fit:cover}",
    "header h2{flex:1;margin:0;font-size:1.05em;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    "header button{color:#fff;border-color:rgba(255,255,255,.6);background:transparent;padding:.25em .7em}",
    ".log{flex:1;overflow-y:auto;padding:.9em;display:flex;flex-direction:column;gap:.55em;background:#f9fafb}",
    ".msg{max-width:85%;padding:.5em .8em;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".assistant{align-self:flex-start;background:#fff;border:1px solid #e5e7eb}",
    ".user{align-self:flex-end;background:var(--la-color);color:#fff}",
    ".status{margin:0;padding:.35em .9em;font-size:.9em;color:#4b5563;min-height:1.9em}",
    ".status.error{color:#b91c1c;background:#fef2f2}",
    ".actions{display:flex;justify-content:center;padding:.4em}",
    "form{display:flex;gap:.5em;padding:.6em;border-top:1px solid #e5e7eb}",
    "textarea{flex:1;font:inherit;resize:none;border:1px solid #d1d5db;border-radius:8px;padding:.45em .6em;min-height:2.4em;max-height:8em}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:480px){.floating{left:0;right:0;bottom:0;width:100%;height:100%;border-radius:0}",
    ".bubble{right:14px;bottom:14px}}",
  ].join("");

  var CHAT_ICON =
    '<svg width="28" height="28" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

  function defineElement(scriptSrc) {
    class LiveAvatar extends HTMLElement {
      static get observedAttributes() {
        return ["title", "avatar", "theme-color", "lang"];
      }

      constructor() {
        super();
        this.attachShadow({ mode: "open" });
        this.session = null;
        this.busy = false;
        this.built = false;
      }

      connectedCallback() {
        if (!this.built) this.build();
      }

      disconnectedCallback() {
        if (this.session) this.end();
      }

      attributeChangedCallback() {
        if (this.built) this.applyLooks();
      }

      t(key, vars) {
        return label(this.getAttribute("lang"), key, vars);
      }

      get floating() {
        return this.getAttribute("position") !== "inline";
      }

      get endpoint() {
        return this.getAttribute("data-endpoint") || defaultEndpoint(scriptSrc, location.href);
      }

      build() {
        var root = this.shadowRoot;
        var style = document.createElement("style");
        style.textContent = STYLE;
        root.innerHTML =
          '<button class="bubble" type="button" aria-expanded="false"></button>' +
          '<section class="panel" hidden>' +
          '<header><img alt="" hidden><h2></h2><button class="end" type="button" hidden></button>' +
          '<button class="close" type="button">×</button></header>' +
          '<div class="log" role="log" aria-live="polite"></div>' +
          '<p class="status" role="status"></p>' +
          '<div class="actions"><button class="primary start" type="button"></button></div>' +
          '<form hidden><textarea rows="1"></textarea><button class="primary" type="submit"></button></form>' +
          "</section>";
        root.prepend(style);
        var q = function (selector) {
          return root.querySelector(selector);
        };
        this.ui = {
          bubble: q(".bubble"),
          panel: q(".panel"),
          avatar: q("header img"),
          title: q("h2"),
          end: q(".end"),
          close: q(".close"),
          log: q(".log"),
          status: q(".status"),
          actions: q(".actions"),
          start: q(".start"),
          form: q("form"),
          input: q("textarea"),
          send: q("form button"),
        };
        this.wire();
        this.built = true;
        this.applyLooks();
        if (!this.floating) this.ui.panel.hidden = false;
      }

      wire() {
        var ui = this.ui;
        var self = this;
        ui.bubble.addEventListener("click", function () {
          self.toggle();
        });
        ui.close.addEventListener("click", function () {
          self.toggle(false);
        });
        ui.start.addEventListener("click", function () {
          self.start();
        });
        ui.end.addEventListener("click", function () {
          self.end();
        });
        ui.form.addEventListener("submit", function (event) {
          event.preventDefault();
          self.send();
        });
        ui.input.addEventListener("keydown", function (event) {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            self.send();
          }
        });
        ui.panel.addEventListener("keydown", function (event) {
          if (event.key === "Escape" && self.floating) self.toggle(false);
        });
      }

      applyLooks() {
        var ui = this.ui;
        var title = this.getAttribute("title") || this.t("title");
        var avatar = this.getAttribute("avatar");
        var color = this.getAttribute("theme-color");
        if (color) this.style.setProperty("--la-color", color);
        ui.panel.className = "panel " + (this.floating ? "floating" : "inline");
        ui.panel.setAttribute("aria-label", title);
        ui.bubble.hidden = !this.floating;
        ui.close.hidden = !this.floating;
        ui.title.textContent = title;
        ui.avatar.hidden = !avatar;
        if (avatar) ui.avatar.src = avatar;
        ui.bubble.innerHTML = avatar ? '<img alt="">' : CHAT_ICON;
        if (avatar) ui.bubble.firstChild.src = avatar;
        ui.bubble.setAttribute("aria-label", this.t("open"));
        ui.close.setAttribute("aria-label", this.t("close"));
        ui.end.textContent = this.t("end");
        ui.start.textContent = this.t(this.startedOnce ? "restart" : "start");
        ui.log.setAttribute("aria-label", this.t("transcript"));
        ui.input.setAttribute("aria-label", this.t("message"));
        ui.input.placeholder = this.t("message");
        ui.send.textContent = this.t("send");
      }

      /** Open or close the floating panel; the first opening starts the conversation. */
      toggle(open) {
        var ui = this.ui;
        if (open === undefined) open = ui.panel.hidden;
        ui.panel.hidden = !open;
        ui.bubble.setAttribute("aria-expanded", String(open));
        if (!open) return ui.bubble.focus();
        if (!this.session && !this.starting && !this.startedOnce) this.start();
        else (this.session ? ui.input : ui.start).focus();
      }

      emit(name, detail) {
        this.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true, composed: true }));
      }

      setStatus(text, isError) {
        this.ui.status.textContent = text || "";
        this.ui.status.classList.toggle("error", !!isError);
      }

      fail(status, body, phase) {
        var why = describeError(status, body, phase);
        var words = this.t(why.key);
        this.setStatus(words, true);
        this.emit("error", { code: why.code, message: words });
        return why;
      }

      /** Show the conversation controls or the start button, as the session stands. */
      showControls() {
        var live = !!this.session;
        this.ui.form.hidden = !live;
        this.ui.end.hidden = !live;
        this.ui.actions.hidden = live;
        this.ui.start.textContent = this.t(this.startedOnce ? "restart" : "start");
        this.ui.send.disabled = this.busy;
      }

      addMessage(role, text) {
        var item = document.createElement("div");
        item.className = "msg " + role;
        var who = document.createElement("span");
        who.className = "sr";
        who.textContent = this.t(role === "user" ? "you" : "agent") + ": ";
        var body = document.createElement("span");
        body.textContent = text;
        item.append(who, body);
        this.ui.log.append(item);
        this.ui.log.scrollTop = this.ui.log.scrollHeight;
        return body;
      }

      async request(url, options) {
        var response = await fetch(url, options);
        var body = null;
        if (!response.ok) {
          try {
            body = await response.json();
          } catch (e) {
            body = null;
          }
        }
        return { response: response, body: body };
      }

      async start() {
        if (this.session || this.starting) return;
        this.starting = true;
        this.ui.start.disabled = true;
        this.setStatus(this.t("connecting"));
        try {
          var headers = { "Content-Type": "application/json" };
          // Parley's own pages pass their CSRF token: a signed-in person's cookie goes along.
          var csrf = this.getAttribute("data-csrf-token");
          if (csrf) headers["X-CSRFToken"] = csrf;
          var init = {
            method: "POST",
            headers: headers,
            body: JSON.stringify({ agentId: this.getAttribute("agentid") || "", mode: "chat" }),
          };
          var sent = await this.request(this.endpoint, init);
          if (!sent.response.ok) return this.fail(sent.response.status, sent.body, "start");
          this.begin(await sent.response.json());
        } catch (e) {
          this.fail(0, null, "start");
        } finally {
          this.starting = false;
          this.ui.start.disabled = false;
          this.showControls();
        }
      }

      begin(started) {
        this.session = started;
        this.startedOnce = true;
        this.ui.log.textContent = "";
        this.setStatus("");
        this.emit("session-started", { sessionId: started.sessionId });
        if (started.firstMessage) {
          this.addMessage("assistant", started.firstMessage);
          this.emit("message", { role: "assistant", content: started.firstMessage });
        }
        this.showControls();
        this.ui.input.focus();
      }

      headersFor(session, extra) {
        return Object.assign({ Authorization: "Bearer " + session.sessionToken }, extra);
      }

      async send() {
        var content = this.ui.input.value.trim();
        if (!content || !this.session) return;
        if (this.busy) return this.fail(409, null, "message");
        this.ui.input.value = "";
        this.addMessage("user", content);
        this.emit("message", { role: "user", content: content });
        this.busy = true;
        this.showControls();
        this.setStatus("");
        try {
          await this.converse(content);
        } finally {
          this.busy = false;
          if (this.session) this.showControls();
        }
      }

      async converse(content) {
        var init = {
          method: "POST",
          headers: this.headersFor(this.session, {
            "Content-Type": "application/json",
            Accept: "text/event-stream",
          }),
          body: JSON.stringify({ content: content }),
        };
        var sent;
        try {
          sent = await this.request(this.session.messagesUrl, init);
        } catch (e) {
          return this.fail(0, null, "message");
        }
        if (!sent.response.ok) {
          var why = this.fail(sent.response.status, sent.body, "message");
          if (why.key === "err_ended") this.closed();
          return;
        }
        var reply = { node: null, text: "", done: false };
        try {
          await this.readStream(sent.response, reply);
        } catch (e) {
          reply.done = false;
        }
        if (!reply.done) this.fail(0, null, "message");
      }

      async readStream(response, reply) {
        var self = this;
        var parser = createSseParser(function (event) {
          self.onServerEvent(event, reply);
        });
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) break;
          parser.push(decoder.decode(chunk.value, { stream: true }));
        }
        parser.push(decoder.decode());
        parser.end();
      }

      onServerEvent(event, reply) {
        var data;
        try {
          data = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (event.event === "token") {
          if (!reply.node) reply.node = this.addMessage("assistant", "");
          reply.node.parentNode.setAttribute("aria-busy", "true");
          reply.text += data.text || "";
          reply.node.textContent = reply.text;
          this.ui.log.scrollTop = this.ui.log.scrollHeight;
        } else if (event.event === "tool_call_started") {
          this.setStatus(this.t("calling", { tool: data.name }));
        } else if (event.event === "tool_call_finished") {
          this.setStatus("");
        } else if (event.event === "error") {
          this.emit("error", { code: "reply_failed", message: data.message || "" });
        } else if (event.event === "done") {
          this.finishReply(reply, (data.message && data.message.content) || reply.text);
        }
      }

      finishReply(reply, content) {
        if (!reply.node) reply.node = this.addMessage("assistant", "");
        reply.node.textContent = content;
        reply.node.parentNode.removeAttribute("aria-busy");
        reply.done = true;
        this.setStatus("");
        this.emit("message", { role: "assistant", content: content });
      }

      /** End the session: tell the server (best effort) and offer to start again. */
      async end() {
        var session = this.session;
        if (!session) return;
        this.closed();
        try {
          await fetch(session.endUrl, {
            method: "PUT",
            headers: this.headersFor(session, { "Content-Type": "application/json" }),
            body: "{}",
            keepalive: true,
          });
        } catch (e) {
          // The server ends idle sessions by itself; nothing for the visitor to do.
        }
      }

      closed() {
        var session = this.session;
        this.session = null;
        this.busy = false;
        this.setStatus(this.t("ended"));
        this.showControls();
        if (this.isConnected) this.ui.start.focus();
        if (session) this.emit("session-ended", { sessionId: session.sessionId });
      }
    }
    customElements.define("live-avatar", LiveAvatar);
  }

  var scriptSrc = typeof document !== "undefined" && document.currentScript ? document.currentScript.src : "";
  if (typeof customElements !== "undefined" && !customElements.get("live-avatar")) defineElement(scriptSrc);
  if (typeof module !== "undefined") {
    module.exports = {
      LABELS: LABELS,
      label: label,
      labelLanguage: labelLanguage,
      defaultEndpoint: defaultEndpoint,
      createSseParser: createSseParser,
      describeError: describeError,
    };
  }
})();
