/*
 * <live-avatar agentid="…">: Parley's chat and call widget. One file, no dependencies, no build
 * step: load it with a classic <script src>. It talks only to the Parley server it came from (or
 * to the start-session URL in data-endpoint), and emits session-started, message, call-state,
 * session-ended and error events on the element for the embedding page. Documented in
 * docs/widget.md.
 *
 * mode="voice" or mode="video" makes the panel a call: the microphone goes to the agent over
 * WebRTC, its voice (and video) comes back, with live captions from the RTVI messages on the
 * call's data channel. modes="chat voice" lets the visitor switch between the listed modes.
 *
 * Stable hooks for tests and embedding pages (kept as they are across versions):
 *   <live-avatar data-state>     in a call mode, the call's state: idle, permission (asking for
 *                                the microphone), connecting, listening, thinking, speaking,
 *                                ended or error; absent in chat mode. Also on .call[data-state]
 *                                in the shadow root, and told by the call-state event.
 *   shadow root:
 *     .panel[data-mode]          chat, voice or video
 *     [data-mode-choice=<mode>]  the mode switch's buttons (aria-pressed), when modes lists more
 *     [data-call=start]          "Start call" / "Call again"
 *     [data-call=mute]           aria-pressed="true" while muted
 *     [data-call=hangup]         "Hang up"
 *     .call-state                the state in words
 *     .captions                  role=log: a .msg[data-role=user|agent] per turn, its words in
 *                                .text and the visitor's not-yet-final words in .interim
 *     audio[data-remote], video[data-remote]  the agent's voice and video
 *     .face                      the agent's picture or initial, shown until video frames arrive
 *     .status                    explanations and errors (class "error" for an error)
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
      err_hiccup: "The assistant had a problem for a moment. If you missed something, ask again.",
      err_call_failed: "The call failed on the assistant’s side. Please call again.",
      call_title: "Call",
      mode_chat: "Chat",
      mode_voice: "Voice call",
      mode_video: "Video call",
      modes: "Conversation type",
      call_start: "Start call",
      call_again: "Call again",
      call_intro: "The call uses your microphone: your browser will ask you to allow it.",
      call_asking: "Allow the microphone in your browser’s prompt to start the call.",
      listening: "Listening",
      thinking: "Thinking…",
      speaking: "Speaking",
      call_ended: "The call has ended.",
      mute: "Mute",
      hang_up: "Hang up",
      captions: "Captions",
      err_insecure: "Calls need a secure page (https). Open this page over https to call.",
      err_unsupported: "This browser cannot make calls. Please use a current browser.",
      err_mic_denied: "The microphone is blocked. Allow it for this site in your browser’s settings (the icon beside the address), then start the call again.",
      err_mic_missing: "No microphone was found. Connect one, then start the call again.",
      err_mic_busy: "The microphone could not be used; another app may have it. Close that app, then start the call again.",
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
      err_hiccup: "Beim Assistenten gab es kurz ein Problem. Falls Ihnen etwas entgangen ist, fragen Sie noch einmal.",
      err_call_failed: "Der Anruf ist auf der Seite des Assistenten fehlgeschlagen. Bitte rufen Sie erneut an.",
      call_title: "Anruf",
      mode_chat: "Chat",
      mode_voice: "Sprachanruf",
      mode_video: "Videoanruf",
      modes: "Art der Unterhaltung",
      call_start: "Anruf starten",
      call_again: "Erneut anrufen",
      call_intro: "Der Anruf nutzt Ihr Mikrofon: Ihr Browser fragt Sie um Erlaubnis.",
      call_asking: "Erlauben Sie das Mikrofon in der Abfrage Ihres Browsers, um den Anruf zu starten.",
      listening: "Hört zu",
      thinking: "Denkt nach…",
      speaking: "Spricht",
      call_ended: "Der Anruf ist beendet.",
      mute: "Stumm",
      hang_up: "Auflegen",
      captions: "Untertitel",
      err_insecure: "Anrufe brauchen eine sichere Seite (https). Öffnen Sie diese Seite über https.",
      err_unsupported: "Mit diesem Browser sind keine Anrufe möglich. Bitte nutzen Sie einen aktuellen Browser.",
      err_mic_denied: "Das Mikrofon ist blockiert. Erlauben Sie es für diese Website in den Einstellungen Ihres Browsers (das Symbol neben der Adresse) und starten Sie den Anruf erneut.",
      err_mic_missing: "Es wurde kein Mikrofon gefunden. Schließen Sie eines an und starten Sie den Anruf erneut.",
      err_mic_busy: "Das Mikrofon ließ sich nicht verwenden; vielleicht nutzt es eine andere App. Schließen Sie diese und starten Sie den Anruf erneut.",
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
      err_hiccup: "L’assistant a eu un problème passager. Si quelque chose vous a échappé, redemandez.",
      err_call_failed: "L’appel a échoué du côté de l’assistant. Veuillez rappeler.",
      call_title: "Appel",
      mode_chat: "Chat",
      mode_voice: "Appel vocal",
      mode_video: "Appel vidéo",
      modes: "Type de conversation",
      call_start: "Lancer l’appel",
      call_again: "Rappeler",
      call_intro: "L’appel utilise votre micro : votre navigateur vous demandera l’autorisation.",
      call_asking: "Autorisez le micro dans la demande de votre navigateur pour lancer l’appel.",
      listening: "À l’écoute",
      thinking: "Réfléchit…",
      speaking: "Parle",
      call_ended: "L’appel est terminé.",
      mute: "Couper le micro",
      hang_up: "Raccrocher",
      captions: "Sous-titres",
      err_insecure: "Les appels nécessitent une page sécurisée (https). Ouvrez cette page en https.",
      err_unsupported: "Ce navigateur ne permet pas les appels. Utilisez un navigateur récent.",
      err_mic_denied: "Le micro est bloqué. Autorisez-le pour ce site dans les réglages du navigateur (l’icône à côté de l’adresse), puis relancez l’appel.",
      err_mic_missing: "Aucun micro trouvé. Branchez-en un, puis relancez l’appel.",
      err_mic_busy: "Le micro n’a pas pu être utilisé ; une autre application l’occupe peut-être. Fermez-la, puis relancez l’appel.",
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
      err_hiccup: "El asistente tuvo un problema momentáneo. Si te perdiste algo, vuelve a preguntar.",
      err_call_failed: "La llamada falló del lado del asistente. Vuelve a llamar.",
      call_title: "Llamada",
      mode_chat: "Chat",
      mode_voice: "Llamada de voz",
      mode_video: "Videollamada",
      modes: "Tipo de conversación",
      call_start: "Iniciar llamada",
      call_again: "Llamar de nuevo",
      call_intro: "La llamada usa tu micrófono: tu navegador te pedirá permiso.",
      call_asking: "Permite el micrófono en el aviso del navegador para iniciar la llamada.",
      listening: "Escuchando",
      thinking: "Pensando…",
      speaking: "Hablando",
      call_ended: "La llamada ha terminado.",
      mute: "Silenciar",
      hang_up: "Colgar",
      captions: "Subtítulos",
      err_insecure: "Las llamadas necesitan una página segura (https). Abre esta página con https.",
      err_unsupported: "Este navegador no puede hacer llamadas. Usa un navegador actual.",
      err_mic_denied: "El micrófono está bloqueado. Permítelo para este sitio en los ajustes del navegador (el icono junto a la dirección) y vuelve a iniciar la llamada.",
      err_mic_missing: "No se encontró ningún micrófono. Conecta uno y vuelve a iniciar la llamada.",
      err_mic_busy: "No se pudo usar el micrófono; quizá otra aplicación lo está usando. Ciérrala y vuelve a iniciar la llamada.",
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
   * specific reason), `key` the label that tells the visitor. `phase` is "start", "message" or
   * "call"; a call's refusal that has no label of its own (a busy voice worker, a speech service
   * without its key) comes with the server's words in `message`.
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
    else if (phase !== "message" && (status === 403 || status === 404)) key = "err_unavailable";
    else if (phase === "call" && text && status < 504) return { code: code, key: key, message: text };
    else if (status === 409) key = reason === "session_ended" ? "err_ended" : "err_busy";
    else if (phase === "message" && (status === 401 || status === 403 || status === 404)) key = "err_ended";
    else if (status >= 500) key = "err_unavailable";
    return { code: code, key: key };
  }

  // ---- Calls: voice and video over WebRTC, with pipecat's RTVI messages on a data channel. ----

  var MODES = ["chat", "voice", "video"];
  var RTVI_LABEL = "rtvi-ai";
  var RTVI_VERSION = "2.2.0"; // the RTVI protocol the captions below read (pipecat's own)
  var ICE_WAIT_MS = 2000; // the offer goes with what ICE has gathered by then
  var PING_MS = 1000; // pipecat's SmallWebRTC takes the call as alive while pings arrive
  var MAX_LINES = 200;
  // Phases in which a call holds the microphone or a session.
  var LIVE = { permission: 1, connecting: 1, listening: 1, thinking: 1, speaking: 1 };
  // getUserMedia's refusals, by the error's name: what is wrong with the microphone.
  var MIC_ERRORS = {
    NotAllowedError: "denied",
    SecurityError: "denied",
    PermissionDeniedError: "denied",
    NotFoundError: "missing",
    DevicesNotFoundError: "missing",
    OverconstrainedError: "missing",
    NotReadableError: "busy",
    TrackStartError: "busy",
    AbortError: "busy",
  };

  /** The mode an attribute asks for; anything unknown is chat. */
  function modeOf(value) {
    value = String(value || "").toLowerCase();
    return MODES.indexOf(value) < 0 ? "chat" : value;
  }

  /** The modes a `modes` attribute offers, known ones only, each once, the current one included. */
  function modesOf(value, current) {
    var offered = [];
    String(value || "")
      .toLowerCase()
      .split(/[\s,]+/)
      .forEach(function (mode) {
        if (MODES.indexOf(mode) >= 0 && offered.indexOf(mode) < 0) offered.push(mode);
      });
    if (offered.indexOf(current) < 0) offered.unshift(current);
    return offered;
  }

  /** Why a call cannot start in this browser, as {code, key}, or null when it can. */
  function callSupport(env) {
    if (!env.isSecureContext) return { code: "insecure_context", key: "err_insecure" };
    var media = env.mediaDevices;
    if (!media || !media.getUserMedia || !env.RTCPeerConnection) {
      return { code: "unsupported", key: "err_unsupported" };
    }
    return null;
  }

  /** getUserMedia's refusal as {code, key}: blocked, no microphone, or one in use. */
  function micError(error) {
    var what = MIC_ERRORS[(error && error.name) || ""];
    if (!what) return { code: "microphone", key: "err_failed" };
    return { code: "microphone_" + what, key: "err_mic_" + what };
  }

  function postJson(body, headers) {
    return {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, headers),
      body: JSON.stringify(body),
    };
  }

  function bearer(session) {
    return { Authorization: "Bearer " + session.sessionToken };
  }

  /**
   * Ending a session: the session token as Bearer, and `keepalive` so that the request outlives
   * the page when the visitor leaves it (the element ends what is live on `pagehide`).
   */
  function endRequest(session) {
    return Object.assign(postJson({}, bearer(session)), { keepalive: true });
  }

  /** The start of a call: the session start's body and headers (the CSRF token on Parley's pages). */
  function callStartRequest(agentId, mode, csrf) {
    var body = { agentId: agentId, mode: mode, transport: "webrtc" };
    return postJson(body, csrf ? { "X-CSRFToken": csrf } : {});
  }

  /** The browser's offer, ICE candidates included, for the session's offerUrl. */
  function offerRequest(session, sdp) {
    return postJson({ type: "offer", sdp: sdp }, bearer(session));
  }

  /** fetch, and the answer's JSON body whatever its status (null when it has none). */
  async function fetchJson(fetchFn, url, init) {
    var response = await fetchFn(url, init);
    var body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    return { ok: response.ok, status: response.status, body: body };
  }

  /** Resolves once the connection has gathered its ICE candidates, or after `ms` at most. */
  function iceGathered(pc, ms) {
    return new Promise(function (resolve) {
      var timer;
      function check() {
        if (pc.iceGatheringState !== "complete") return;
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
      timer = setTimeout(function () {
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }, ms);
      pc.addEventListener("icegatheringstatechange", check);
      check();
    });
  }

  /** A call's state as the visitor sees it: the phase, the captions (a line per turn), and a
   * notice (a label's key) when the agent's side had a problem. */
  function callState(phase) {
    return { phase: phase || "idle", lines: [], next: 1, notice: "", why: null };
  }

  /** The caption line of `role` to write to: the last one when it is that speaker's, else a new one. */
  function lineFor(state, role) {
    var last = state.lines[state.lines.length - 1];
    if (last && last.role === role) return last;
    var line = { id: state.next++, role: role, text: "", interim: "", segments: {}, order: [] };
    state.lines.push(line);
    if (state.lines.length > MAX_LINES) state.lines.splice(0, state.lines.length - MAX_LINES);
    return line;
  }

  function joinWords(a, b) {
    return a && b ? a + " " + b : a || b;
  }

  /**
   * The bot's output into its caption. A segment (one sentence, say) comes once as pipecat's
   * observer has it and again as its words are spoken: each segment is shown as far as it has
   * been spoken when pipecat says (spoken_progress), else whole.
   */
  function botOutput(state, data) {
    if (data.output_type === "backchannel") return;
    var line = lineFor(state, "agent");
    var id = data.segment_id == null ? "n" + state.next++ : String(data.segment_id);
    var progress = data.spoken_progress;
    if (line.order.indexOf(id) < 0) line.order.push(id);
    line.segments[id] = String(progress ? progress.accumulated_text || "" : data.text || "").trim();
    line.text = line.order
      .map(function (key) {
        return line.segments[key];
      })
      .filter(Boolean)
      .join(" ");
  }

  // Refused starts that a retry would meet again (a rate limit or a lost connection would not).
  var LASTING_REFUSALS = { not_found: true, origin_not_allowed: true, single_use_used: true, single_use_expired: true };

  /** Where the agent's card is: on the start endpoint's server. */
  function cardUrl(endpoint, agentId) {
    try {
      return new URL("/widget/agents/" + encodeURIComponent(agentId), endpoint).href;
    } catch (e) {
      return "";
    }
  }

  /**
   * What the agent's card says: {name} when the agent takes conversations, {why} (in the words
   * describeError picks) when Parley says it cannot, or {} when the answer is not Parley's (another
   * server behind data-endpoint, a lost connection): then the Start button stays, and the start
   * tells whatever there is to tell.
   */
  function cardReading(status, body) {
    if (status === 200 && body && typeof body.name === "string") return { name: body.name };
    if (status >= 400 && status < 500 && body && typeof body.code === "string") {
      return { why: describeError(status, body, "start") };
    }
    return {};
  }

  /** Text cut where a line may break: after , : ; / } ] inside a long run with no spaces (JSON,
   * a URL), so that the bubble wraps between its parts and never inside a word. The pieces are
   * joined with <wbr>, which copies as nothing. */
  function breakPieces(text) {
    return String(text).replace(/\S{16,}/g, function (run) {
      return run.replace(/([,:;\/}\]])(?=\S)/g, "$1\u0000");
    }).split("\u0000");
  }

  /** Fill `node` with `text`, with a <wbr> at each place breakPieces found. */
  function fillBreakable(node, text) {
    var pieces = breakPieces(text);
    node.textContent = pieces[0];
    for (var i = 1; i < pieces.length; i++) {
      node.append(document.createElement("wbr"), pieces[i]);
    }
  }

  /** The caption lines to show: a turn starts before its first words arrive, and has no bubble
   * until they do. */
  function captionLines(lines) {
    return lines.filter(function (line) {
      return !!(line.text || line.interim);
    });
  }

  /** The visitor's words into their caption: final ones stay, interim ones are replaced. */
  function userTranscription(state, data) {
    var line = lineFor(state, "user");
    var text = String(data.text || "").trim();
    if (data.final) {
      line.text = joinWords(line.text, text);
      line.interim = "";
    } else {
      line.interim = text;
    }
  }

  /**
   * One RTVI message from the agent into the call's state (pipecat's RTVI protocol). Returns
   * false for messages that change nothing shown, such as types this widget does not know.
   */
  function callMessage(state, message) {
    if (!message || message.label !== RTVI_LABEL || !LIVE[state.phase]) return false;
    var data = message.data || {};
    var phase = state.phase;
    switch (message.type) {
      case "bot-ready":
        if (phase === "connecting") state.phase = "listening";
        break;
      case "user-started-speaking":
        state.phase = "listening";
        state.notice = ""; // a new turn: an earlier hiccup is behind them
        break;
      case "bot-stopped-speaking":
      case "bot-interrupted":
        state.phase = "listening";
        break;
      case "user-stopped-speaking":
        state.phase = "thinking";
        break;
      case "bot-started-speaking":
        state.phase = "speaking";
        break;
      case "user-transcription":
        userTranscription(state, data);
        break;
      case "bot-output":
        botOutput(state, data);
        break;
      case "error":
        // The agent's side words its errors for its logs: the visitor reads the widget's own.
        state.notice = "err_hiccup";
        if (data.fatal) state.why = { code: "call_failed", key: "err_call_failed" };
        break;
      default:
        return false;
    }
    return true;
  }

  /**
   * One call, from the microphone to hanging up, apart from the page: `env` brings what the
   * browser gives (fetch, RTCPeerConnection, mediaDevices, isSecureContext), so that this runs
   * under node's tests with stand-ins. The element draws `state` whenever onChange is called.
   *
   * options: env, endpoint, agentId, mode (voice|video), csrf, and the callbacks onChange(call),
   * onTrack(event), onStarted(session), onEnded(session), onError(why).
   */
  class Call {
    constructor(options) {
      this.o = options;
      this.env = options.env;
      this.state = callState();
      this.muted = false;
      this.session = null;
    }

    get live() {
      return !!LIVE[this.state.phase];
    }

    changed() {
      this.o.onChange(this);
    }

    phase(phase) {
      this.state.phase = phase;
      this.changed();
    }

    async start() {
      var o = this.o;
      var env = this.env;
      this.state = callState("permission");
      var unsupported = callSupport(env);
      if (unsupported) return this.fail(unsupported);
      this.changed();
      try {
        this.stream = await env.mediaDevices.getUserMedia({ audio: true });
      } catch (e) {
        return this.fail(micError(e));
      }
      if (this.state.phase !== "permission") return this.release(); // hung up meanwhile
      this.phase("connecting");
      var sent;
      try {
        sent = await fetchJson(env.fetch, o.endpoint, callStartRequest(o.agentId, o.mode, o.csrf));
      } catch (e) {
        return this.fail({ code: "network", key: "err_connection" });
      }
      if (!sent.ok) return this.fail(describeError(sent.status, sent.body, "call"));
      this.session = sent.body;
      o.onStarted(this.session);
      if (!this.live) return this.close(true); // hung up meanwhile
      try {
        await this.connect(this.session);
      } catch (e) {
        if (this.live) this.fail(describeError(e.status || 0, e.body, "call"));
      }
    }

    /** The peer connection: the microphone out, the agent's voice (and video) in, the data
     * channel for RTVI messages (pipecat's SmallWebRTC waits for the client to open it). */
    async connect(session) {
      var self = this;
      var pc = (this.pc = new this.env.RTCPeerConnection({ iceServers: session.iceServers || [] }));
      // Pipecat reads transceivers by position: the first is the call's audio, the second video.
      pc.addTransceiver(this.stream.getAudioTracks()[0], { direction: "sendrecv", streams: [this.stream] });
      if (this.o.mode === "video") pc.addTransceiver("video", { direction: "recvonly" });
      var channel = (this.channel = pc.createDataChannel("chat", { ordered: true }));
      channel.onopen = function () {
        self.opened(channel);
      };
      channel.onmessage = function (event) {
        self.received(event.data);
      };
      channel.onclose = function () {
        if (self.live && self.state.phase !== "connecting") self.finish(false);
      };
      pc.ontrack = function (event) {
        self.o.onTrack(event);
      };
      pc.onconnectionstatechange = function () {
        self.connection(pc.connectionState);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc, ICE_WAIT_MS);
      if (!this.live) return;
      var offer = offerRequest(session, pc.localDescription.sdp);
      var sent = await fetchJson(this.env.fetch, session.offerUrl, offer);
      if (!this.live) return;
      if (!sent.ok) throw { status: sent.status, body: sent.body };
      await pc.setRemoteDescription({ type: "answer", sdp: sent.body.sdp });
    }

    opened(channel) {
      var id = Math.random().toString(36).slice(2);
      var about = { library: "parley-live-avatar", library_version: "1" };
      var data = { version: RTVI_VERSION, about: about };
      channel.send(JSON.stringify({ label: RTVI_LABEL, type: "client-ready", id: id, data: data }));
      this.pinger = setInterval(function () {
        if (channel.readyState === "open") channel.send("ping: " + Date.now());
      }, PING_MS);
    }

    received(text) {
      var message;
      try {
        message = JSON.parse(text);
      } catch (e) {
        return;
      }
      // Pipecat's own signalling: the agent's side has left the call.
      var signal = message && message.type === "signalling" && message.message;
      if (signal && signal.type === "peerLeft") return this.finish(false);
      if (!callMessage(this.state, message)) return;
      if (this.state.why) this.fail(this.state.why);
      else this.changed();
    }

    connection(state) {
      if (state === "connected" && this.state.phase === "connecting") this.phase("listening");
      else if (state === "failed" && this.live) this.fail({ code: "network", key: "err_connection" });
    }

    setMuted(muted) {
      this.muted = !!muted;
      if (this.stream) {
        this.stream.getAudioTracks().forEach(function (track) {
          track.enabled = !muted;
        });
      }
      this.changed();
    }

    /** The visitor hangs up. */
    hangUp() {
      this.finish(true);
    }

    /** The call is over (`told`: the visitor ended it, so tell Parley too). */
    finish(told) {
      if (!this.live) return;
      this.state.phase = "ended";
      this.close(told);
    }

    fail(why) {
      if (!this.live) return;
      this.state.phase = "error";
      this.state.why = why;
      this.o.onError(why);
      this.close(true);
    }

    /** Let go of the microphone and the connection; end the session if there is one. */
    close(tell) {
      this.release();
      var session = this.session;
      this.session = null;
      if (session && tell) {
        this.env.fetch(session.endUrl, endRequest(session)).catch(function () {
          // The server ends silent sessions by itself; nothing for the visitor to do.
        });
      }
      this.changed();
      if (session) this.o.onEnded(session);
    }

    release() {
      clearInterval(this.pinger);
      if (this.pc) this.pc.close();
      this.pc = null;
      if (this.stream) {
        this.stream.getTracks().forEach(function (track) {
          track.stop();
        });
      }
      this.stream = null;
    }
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
    // A long name takes two lines at most.
    "header h2{flex:1;min-width:0;margin:0;font-size:1.05em;font-weight:600;overflow:hidden;overflow-wrap:anywhere;",
    "display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:2}",
    "header button{color:#fff;border-color:rgba(255,255,255,.6);background:transparent;padding:.25em .7em}",
    ".log{flex:1;overflow-y:auto;padding:.9em;display:flex;flex-direction:column;gap:.55em;background:#f9fafb}",
    ".msg{max-width:85%;padding:.5em .8em;border-radius:12px;white-space:pre-wrap;overflow-wrap:break-word}",
    ".assistant{align-self:flex-start;background:#fff;border:1px solid #e5e7eb}",
    ".user{align-self:flex-end;background:var(--la-color);color:#fff}",
    ".status{margin:0;padding:.35em .9em;font-size:.9em;color:#4b5563;min-height:1.9em}",
    ".status.error{color:#b91c1c;background:#fef2f2}",
    ".actions{display:flex;justify-content:center;padding:.4em}",
    // Before the first conversation there is no transcript: the Start button stands in its place.
    ".log[hidden]~.actions{flex:1;align-items:center}",
    // An agent that cannot take a conversation: why, in the panel's middle, where Start would be.
    "[data-refused][data-mode=chat] .status{flex:1;display:flex;align-items:center;justify-content:center;text-align:center;padding:1em 1.5em}",
    "form{display:flex;gap:.5em;padding:.6em;border-top:1px solid #e5e7eb}",
    "textarea{flex:1;font:inherit;resize:none;border:1px solid #d1d5db;border-radius:8px;padding:.45em .6em;min-height:2.4em;max-height:8em}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".modes{display:flex;gap:.3em;padding:.45em .6em;border-bottom:1px solid #e5e7eb}",
    ".modes button{flex:1;padding:.3em .5em;background:transparent;color:inherit;border-color:#d1d5db}",
    ".modes [aria-pressed=true]{background:var(--la-color);border-color:var(--la-color);color:#fff}",
    ".call{flex:1;display:flex;flex-direction:column;min-height:0;background:#f9fafb}",
    ".stage{position:relative;display:grid;place-items:center;padding:1.2em .9em .4em;flex:none}",
    ".video .stage{margin:.6em .6em 0;padding:0;aspect-ratio:4/3;max-height:48%;background:#111827;border-radius:10px;overflow:hidden}",
    ".stage video{position:absolute;inset:0;width:100%;height:100%;object-fit:contain}",
    ".face{position:relative;width:96px;height:96px;border-radius:50%;display:grid;place-items:center;overflow:hidden;",
    "font-size:2.5em;font-weight:600;background:var(--la-color);color:#fff;transition:box-shadow .2s}",
    ".face img{width:100%;height:100%;object-fit:cover}",
    "[data-video=live] .face,.voice video{display:none}",
    "[data-state=listening] .face{box-shadow:0 0 0 4px #fff,0 0 0 7px var(--la-color)}",
    "[data-state=speaking] .face{animation:la-pulse 1.2s ease-in-out infinite}",
    "@keyframes la-pulse{50%{box-shadow:0 0 0 12px rgba(79,70,229,.18)}}",
    "@media (prefers-reduced-motion:reduce){[data-state=speaking] .face{animation:none;box-shadow:0 0 0 7px var(--la-color)}}",
    ".call-state{margin:.5em 0 0;text-align:center;font-weight:600;color:#374151;min-height:1.45em}",
    ".captions{flex:1;overflow-y:auto;padding:.6em .9em;display:flex;flex-direction:column;gap:.45em}",
    ".interim{opacity:.65}",
    ".controls{display:flex;justify-content:center;gap:.6em;padding:.6em;border-top:1px solid #e5e7eb}",
    ".hangup{background:#dc2626;color:#fff}",
    ".quiet[aria-pressed=true]{background:#111827;color:#fff}",
    "@media (max-width:480px){.floating{left:0;right:0;bottom:0;width:100%;height:100%;border-radius:0}",
    ".bubble{right:14px;bottom:14px}}",
  ].join("");

  var CHAT_ICON =
    '<svg width="28" height="28" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

  /**
   * The widget's styles, in its shadow root. A constructed stylesheet where the browser has them:
   * a page's Content-Security-Policy governs <style> elements, not these, so the widget keeps its
   * looks on a site whose policy refuses inline styles. Elsewhere a <style>, with the nonce the
   * page gave this script, if any.
   */
  function applyStyle(root, nonce) {
    var constructable =
      typeof CSSStyleSheet === "function" && "adoptedStyleSheets" in root && "replaceSync" in CSSStyleSheet.prototype;
    if (constructable) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      root.adoptedStyleSheets = [sheet];
      return;
    }
    var style = document.createElement("style");
    if (nonce) style.nonce = nonce;
    style.textContent = STYLE;
    root.prepend(style);
  }

  function defineElement(scriptSrc, scriptNonce) {
    class LiveAvatar extends HTMLElement {
      static get observedAttributes() {
        return ["title", "avatar", "theme-color", "lang", "mode", "modes"];
      }

      constructor() {
        super();
        this.attachShadow({ mode: "open" });
        this.session = null;
        this.call = null;
        this.busy = false;
        this.built = false;
        this.left = this.hangUp.bind(this);
        this.agentName = ""; // from the agent's card, when the page gives no title
        this.refused = null; // why the agent cannot take a conversation, from its card
      }

      connectedCallback() {
        if (!this.built) this.build();
        // Leaving or closing the page ends the conversation at once, not at the idle timeout.
        window.addEventListener("pagehide", this.left);
      }

      disconnectedCallback() {
        window.removeEventListener("pagehide", this.left);
        this.hangUp();
      }

      /** A new mode ends what the old one had going, then shows its own start. */
      attributeChangedCallback(name, old, value) {
        if (!this.built) return;
        if (name === "mode" && modeOf(old) !== modeOf(value)) {
          this.hangUp();
          this.call = null;
          this.setStatus("");
        }
        this.applyLooks();
      }

      /** End whatever is live: the chat session or the call. */
      hangUp() {
        if (this.session) this.end();
        if (this.call) this.call.hangUp();
      }

      get mode() {
        return modeOf(this.getAttribute("mode"));
      }

      get live() {
        return !!(this.session || this.starting || (this.call && this.call.live));
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
        root.innerHTML =
          '<button class="bubble" type="button" aria-expanded="false"></button>' +
          '<section class="panel" hidden>' +
          '<header><img alt="" hidden><h2></h2><button class="end" type="button" hidden></button>' +
          '<button class="close" type="button">×</button></header>' +
          '<div class="modes" role="group" hidden></div>' +
          '<div class="log" role="log" aria-live="polite"></div>' +
          '<div class="call" hidden><div class="stage"><video data-remote playsinline autoplay muted></video>' +
          '<div class="face" aria-hidden="true"></div></div><p class="call-state"></p>' +
          '<div class="captions" role="log" aria-live="polite"></div><audio data-remote autoplay></audio></div>' +
          '<p class="status" role="status"></p>' +
          '<div class="actions"><button class="primary start" type="button"></button></div>' +
          '<div class="controls" hidden><button class="primary" type="button" data-call="start"></button>' +
          '<button class="quiet" type="button" data-call="mute" aria-pressed="false"></button>' +
          '<button class="hangup" type="button" data-call="hangup"></button></div>' +
          '<form hidden><textarea rows="1"></textarea><button class="primary" type="submit"></button></form>' +
          "</section>";
        applyStyle(root, scriptNonce);
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
          modes: q(".modes"),
          call: q(".call"),
          stage: q(".stage"),
          video: q("video"),
          face: q(".face"),
          callState: q(".call-state"),
          captions: q(".captions"),
          audio: q("audio"),
          controls: q(".controls"),
          callStart: q("[data-call=start]"),
          mute: q("[data-call=mute]"),
          hangUp: q("[data-call=hangup]"),
        };
        this.lineNodes = {};
        this.wire();
        this.built = true;
        this.applyLooks();
        if (!this.floating) this.ui.panel.hidden = false;
        this.readCard();
      }

      /**
       * The agent's card from Parley: its name for the header, or why it cannot take a
       * conversation now, told in place of a Start button that could only be refused.
       */
      async readCard() {
        var agentId = this.getAttribute("agentid");
        var url = agentId && cardUrl(this.endpoint, agentId);
        if (!url) return;
        var reading;
        try {
          var response = await fetch(url);
          var body = null;
          try {
            body = await response.json();
          } catch (e) {
            body = null;
          }
          reading = cardReading(response.status, body);
        } catch (e) {
          return; // the start will say what is wrong, if anything
        }
        this.agentName = reading.name || "";
        this.refused = reading.why || null;
        this.applyLooks();
        if (this.refused) this.emit("error", { code: this.refused.code, message: this.t(this.refused.key) });
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
        ui.modes.addEventListener("click", function (event) {
          var choice = event.target.closest("[data-mode-choice]");
          if (choice && !self.live) self.setAttribute("mode", choice.getAttribute("data-mode-choice"));
        });
        ui.callStart.addEventListener("click", function () {
          self.startCall();
        });
        ui.mute.addEventListener("click", function () {
          if (self.call) self.call.setMuted(!self.call.muted);
        });
        ui.hangUp.addEventListener("click", function () {
          if (self.call) self.call.hangUp();
        });
        ui.video.addEventListener("playing", function () {
          ui.stage.setAttribute("data-video", "live");
        });
      }

      applyLooks() {
        var ui = this.ui;
        var calling = this.mode !== "chat";
        var title = this.getAttribute("title") || this.agentName || this.t(calling ? "call_title" : "title");
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
        ui.panel.setAttribute("data-mode", this.mode);
        ui.call.className = "call " + this.mode;
        ui.captions.setAttribute("aria-label", this.t("captions"));
        ui.mute.textContent = this.t("mute");
        ui.hangUp.textContent = this.t("hang_up");
        this.drawFace(title, avatar);
        this.drawModes();
        this.showControls();
      }

      /** The agent on the call's stage: its picture, else the title's first letter or digit. */
      drawFace(title, avatar) {
        var face = this.ui.face;
        face.textContent = (String(title).match(/[\p{L}\p{N}]/u) || ["?"])[0].toUpperCase();
        if (!avatar) return;
        face.textContent = "";
        var img = document.createElement("img");
        img.alt = "";
        img.src = avatar;
        face.append(img);
      }

      /** The mode switch: a button per mode the modes attribute offers, when it offers more than one. */
      drawModes() {
        var box = this.ui.modes;
        var offered = modesOf(this.getAttribute("modes"), this.mode);
        box.hidden = offered.length < 2;
        box.setAttribute("aria-label", this.t("modes"));
        var focused = box.contains(this.shadowRoot.activeElement);
        box.textContent = "";
        var self = this;
        offered.forEach(function (mode) {
          var button = document.createElement("button");
          button.type = "button";
          button.setAttribute("data-mode-choice", mode);
          button.setAttribute("aria-pressed", String(mode === self.mode));
          button.textContent = self.t("mode_" + mode);
          box.append(button);
          if (focused && mode === self.mode) button.focus(); // the switch keeps the focus
        });
      }

      /** Open or close the floating panel; the first opening starts the conversation. */
      toggle(open) {
        var ui = this.ui;
        if (open === undefined) open = ui.panel.hidden;
        ui.panel.hidden = !open;
        ui.bubble.setAttribute("aria-expanded", String(open));
        if (!open) return ui.bubble.focus();
        if (this.mode !== "chat") return (this.call && this.call.live ? ui.hangUp : ui.callStart).focus();
        if (!this.session && !this.starting && !this.startedOnce && !this.refused) this.start();
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
        // A refusal that another try would meet again: no Start button to try it with.
        if (phase === "start" && LASTING_REFUSALS[why.code]) this.refused = why;
        this.setStatus(words, true);
        this.emit("error", { code: why.code, message: words });
        return why;
      }

      /** Show the conversation controls or the start button, as the session stands. */
      showControls() {
        var ui = this.ui;
        var live = !!this.session;
        var chat = this.mode === "chat";
        ui.form.hidden = !live || !chat;
        ui.end.hidden = !live || !chat;
        var refused = !live && !!this.refused;
        ui.panel.toggleAttribute("data-refused", refused);
        ui.actions.hidden = live || !chat || refused;
        ui.log.hidden = !chat || (!live && !ui.log.childElementCount);
        ui.call.hidden = ui.controls.hidden = chat;
        ui.start.textContent = this.t(this.startedOnce ? "restart" : "start");
        ui.send.disabled = this.busy;
        ui.modes.querySelectorAll("button").forEach(function (button) {
          button.disabled = live;
        });
        if (chat && refused) this.setStatus(this.t(this.refused.key), true);
        if (chat) this.removeAttribute("data-state");
        else this.drawCall();
      }

      addMessage(role, text) {
        var item = document.createElement("div");
        item.className = "msg " + role;
        var who = document.createElement("span");
        who.className = "sr";
        who.textContent = this.t(role === "user" ? "you" : "agent") + ": ";
        var body = document.createElement("span");
        fillBreakable(body, text);
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
          fillBreakable(reply.node, reply.text);
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
        fillBreakable(reply.node, content);
        reply.node.parentNode.removeAttribute("aria-busy");
        reply.done = true;
        this.setStatus("");
        this.emit("message", { role: "assistant", content: content });
      }

      /** A call in voice or video mode: the Call object does the work, the element draws it. */
      startCall() {
        if (this.call && this.call.live) return;
        var self = this;
        this.ui.captions.textContent = "";
        this.lineNodes = {};
        this.call = new Call({
          env: {
            fetch: window.fetch.bind(window),
            RTCPeerConnection: window.RTCPeerConnection,
            mediaDevices: navigator.mediaDevices,
            isSecureContext: window.isSecureContext,
          },
          endpoint: this.endpoint,
          agentId: this.getAttribute("agentid") || "",
          mode: this.mode,
          csrf: this.getAttribute("data-csrf-token"),
          onChange: function (call) {
            if (call === self.call) self.drawCall();
          },
          onTrack: function (event) {
            self.onTrack(event);
          },
          onStarted: function (session) {
            self.emit("session-started", { sessionId: session.sessionId });
          },
          onEnded: function (session) {
            self.emit("session-ended", { sessionId: session.sessionId });
          },
          onError: function (why) {
            self.emit("error", { code: why.code, message: why.message || self.t(why.key) });
          },
        });
        this.call.start();
      }

      /** The agent's voice to the audio element, its video to the stage. */
      onTrack(event) {
        var stream = (event.streams && event.streams[0]) || new MediaStream([event.track]);
        var media = event.track.kind === "video" ? this.ui.video : this.ui.audio;
        media.srcObject = stream;
        var playing = media.play && media.play();
        if (playing && playing.catch) playing.catch(function () {});
      }

      /** The call's state on the page: the phase, its words, the buttons and the captions. */
      drawCall() {
        if (this.mode === "chat") return;
        var ui = this.ui;
        var call = this.call;
        var state = call ? call.state : callState();
        var phase = state.phase;
        var live = !!LIVE[phase];
        var before = this.getAttribute("data-state");
        var focused = this.shadowRoot.activeElement;
        this.setAttribute("data-state", phase);
        ui.call.setAttribute("data-state", phase);
        ui.callState.textContent = live && phase !== "permission" ? this.t(phase) : "";
        ui.callStart.hidden = live || !!this.refused;
        ui.callStart.textContent = this.t(phase === "idle" ? "call_start" : "call_again");
        ui.hangUp.hidden = !live;
        ui.mute.hidden = !live || phase === "permission";
        ui.mute.setAttribute("aria-pressed", String(!!(call && call.muted)));
        ui.modes.querySelectorAll("button").forEach(function (button) {
          button.disabled = live;
        });
        if (phase === "error") this.setStatus(state.why.message || this.t(state.why.key), true);
        else if (phase === "idle" && this.refused) this.setStatus(this.t(this.refused.key), true);
        else if (phase === "idle") this.setStatus(this.t("call_intro"));
        else if (phase === "permission") this.setStatus(this.t("call_asking"));
        else if (phase === "ended") this.setStatus(this.t("call_ended"));
        else this.setStatus(state.notice && this.t(state.notice), !!state.notice);
        this.drawCaptions(state.lines);
        if (!live) {
          ui.stage.removeAttribute("data-video"); // the agent's picture again, not a frozen frame
          ui.video.srcObject = ui.audio.srcObject = null;
        }
        if (before === phase) return;
        this.emit("call-state", { state: phase });
        // The button that had the focus may have gone: focus the one that takes its place.
        if (focused && focused.hidden) (live ? ui.hangUp : ui.callStart).focus();
      }

      /** The captions, a line per turn; lines already shown are updated in place. */
      drawCaptions(lines) {
        var box = this.ui.captions;
        var nodes = this.lineNodes;
        var kept = {};
        var self = this;
        captionLines(lines).forEach(function (line) {
          var node = nodes[line.id];
          if (!node) {
            node = nodes[line.id] = document.createElement("div");
            node.className = "msg " + (line.role === "user" ? "user" : "assistant");
            node.setAttribute("data-role", line.role);
            node.innerHTML =
              '<span class="sr"></span><span class="text"></span><span class="interim" aria-hidden="true"></span>';
            node.firstChild.textContent = self.t(line.role === "user" ? "you" : "agent") + ": ";
            box.append(node);
          }
          kept[line.id] = true;
          node.children[1].textContent = line.text;
          node.children[2].textContent = line.interim ? (line.text ? " " : "") + line.interim : "";
        });
        Object.keys(nodes).forEach(function (id) {
          if (!kept[id]) {
            nodes[id].remove();
            delete nodes[id];
          }
        });
        box.scrollTop = box.scrollHeight;
      }

      /** End the session: tell the server (best effort) and offer to start again. */
      async end() {
        var session = this.session;
        if (!session) return;
        this.closed();
        try {
          await fetch(session.endUrl, endRequest(session));
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

  var script = typeof document !== "undefined" ? document.currentScript : null;
  var scriptSrc = script ? script.src : "";
  if (typeof customElements !== "undefined" && !customElements.get("live-avatar")) {
    defineElement(scriptSrc, script ? script.nonce : "");
  }
  if (typeof module !== "undefined") {
    module.exports = {
      LABELS: LABELS,
      label: label,
      labelLanguage: labelLanguage,
      defaultEndpoint: defaultEndpoint,
      createSseParser: createSseParser,
      describeError: describeError,
      modeOf: modeOf,
      modesOf: modesOf,
      callSupport: callSupport,
      micError: micError,
      callStartRequest: callStartRequest,
      offerRequest: offerRequest,
      iceGathered: iceGathered,
      callState: callState,
      callMessage: callMessage,
      captionLines: captionLines,
      breakPieces: breakPieces,
      cardUrl: cardUrl,
      cardReading: cardReading,
      endRequest: endRequest,
      Call: Call,
      RTVI_VERSION: RTVI_VERSION,
    };
  }
})();
