// The editor of `planner serve`: the 规划推演 block added to the gap map's side panel (planner/serve/page.py).
// It talks to the JSON API only (docs/serve.md) and redraws the map app (planner/outputs/map_app.js) from each
// answer: every answer is the whole plan against the present, so the page first puts back the present wherever
// it changed something before, then writes the plan's compound bands and distances, 街道 measures and rules, the
// edited facilities and the "this plan vs the present" panel.
var plannerServe = (function () {
  "use strict";
  var P = plannerLayers, S = {planId: null, last: null, lastMs: null, mode: "view", busy: false, token: null, state: null, answers: 0, saved: null};
  var app, map, cfg, E, T, editLayer = null, isoLayer = null, facIndex = {}, facLayers = {};
  var saved = {}, savedRules = null, savedZoneRules = {}, textIndex = null;

  function t(key, fmt) {
    var s = E.labels[key] === undefined ? key : E.labels[key];
    for (var k in fmt || {}) s = s.split("{" + k + "}").join(fmt[k]);
    return s;
  }
  function esc(s) { return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#x27;"}[c]; }); }
  function plain(s) { return String(s).replace(/&(amp|lt|gt|quot|#x27);/g, function (e) { return {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#x27;": "'"}[e]; }); }
  function $(id) { return document.getElementById(id); }
  function num(v) { return v === null || v === undefined ? "—" : (Math.abs(v - Math.round(v)) < 0.05 || Math.abs(v) >= 1000 ? P.thousands(Math.round(v)) : v.toFixed(1)); }

  // ------------------------------------------------------------------ the API
  function ApiError(message, status, code) { this.message = message; this.status = status; this.code = code; }
  function api(method, path, body) {
    var headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (S.token) headers.Authorization = "Bearer " + S.token;
    return fetch(path, {method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body)}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.status === 401 && method !== "GET" && askToken(true)) return api(method, path, body);
        if (!r.ok) throw new ApiError(j.error ? j.error.message : (r.status + ""), r.status, j.error ? j.error.code : "");
        return j;
      });
    }, function () { throw new ApiError(t("offline"), 0); });
  }
  function askToken(again) {
    if (S.token && !again) return true;
    var given = window.prompt(t("token_prompt"), "");
    if (!given) return false;
    S.token = given.trim();
    try { sessionStorage.setItem("planner-token", S.token); } catch (e) { /* private mode */ }
    return true;
  }
  function ensurePlan() {
    if (S.planId) return Promise.resolve(S.planId);
    if (S.state && S.state.editing.token_required && !askToken(false)) return Promise.reject(new ApiError(t("token_prompt"), 401));
    return api("POST", "api/plans", {}).then(function (j) {
      S.planId = j.id;
      try { sessionStorage.setItem("planner-plan", j.id); } catch (e) { /* private mode */ }
      return j.id;
    });
  }
  // one request at a time; the answer redrawn, the time from the request to the redrawn map kept in S.lastMs
  function send(step, body, isoOf) {
    if (S.busy) return Promise.resolve(null);
    S.busy = true; status(t("working")); $("planner-edit-error").textContent = "";
    var t0 = performance.now();
    var tAnswer = 0, tShown = 0;
    return ensurePlan().then(function (id) { return api("POST", "api/plans/" + id + "/" + step, body); }).then(function (answer) {
      tAnswer = performance.now();
      show(answer);
      tShown = performance.now();
      return new Promise(function (done) { requestAnimationFrame(function () { requestAnimationFrame(function () { done(answer); }); }); });
    }).then(function (answer) {
      S.lastMs = performance.now() - t0;
      // where the time went: the request (server and transfer, JSON parsed), show(), the frames drawn after it
      S.lastSplit = {request: tAnswer - t0, show: tShown - tAnswer, frames: performance.now() - tShown};
      status(t("updated", {ms: Math.round(S.lastMs)}));
      S.busy = false;
      if (isoOf) showIsochrone(isoOf(answer)); else clearIsochrone();
      return answer;
    }).catch(function (e) {
      S.busy = false; status("");
      $("planner-edit-error").textContent = t("error") + "：" + (e && e.message ? e.message : String(e));
      return null;
    });
  }
  function edit(body, isoOf) { return send("edit", body, isoOf); }

  // ------------------------------------------------------------------ redrawing the map from an answer
  function setCol(col, row, value) {
    var key = col + "|" + row;
    if (!(key in saved)) saved[key] = T.cols[col][row];
    T.cols[col][row] = value;
  }
  function nameIndex(name) {
    if (!name) return -1;
    if (!textIndex) { textIndex = {}; for (var i = 0; i < T.nearest.length; i++) textIndex[T.nearest[i]] = i; }
    var h = esc(name);
    if (textIndex[h] === undefined) { T.nearest.push(h); textIndex[h] = T.nearest.length - 1; }
    return textIndex[h];
  }
  function restorePresent() {
    for (var key in saved) { var at = key.lastIndexOf("|"); T.cols[key.slice(0, at)][+key.slice(at + 1)] = saved[key]; }
    var Z = cfg.zones;
    if (Z && savedRules) { Z.ruleStart = savedRules.start; Z.ruleView = savedRules.view; Z.ruleStatus = savedRules.status.slice(); Z.ruleCell = savedRules.cell.slice(); }
  }
  function show(answer) {
    S.last = answer;
    S.answers++;
    restorePresent();
    var V = answer.views, rows = {};
    for (var cid in V.compounds) {
      var f = V.compounds[cid], i = f.row;
      rows[cid] = i;
      setCol("pct", i, f.pct);
      for (var cat in f.cats) {
        var k = T.catIndex[cat], c = f.cats[cat];
        if (k === undefined) continue;
        setCol("d" + k, i, c[0]); setCol("m" + k, i, c[1]); setCol("n" + k, i, nameIndex(c[3]));
        var w = "w" + Math.floor(k / 30), bit = Math.pow(2, k % 30), had = Math.floor(T.cols[w][i] / bit) % 2 === 1;
        if (had !== c[4]) setCol(w, i, T.cols[w][i] + (c[4] ? bit : -bit));
        if (T.cols["q" + k]) { var at = facIndex[c[2]]; setCol("q" + k, i, at && at.cat === cat ? at.j : -1); }
      }
    }
    for (var v in V.views) {
      var e = V.views[v];
      for (var id in e.compounds) if (rows[id] !== undefined) { setCol("b_" + v, rows[id], e.compounds[id]); setCol("t_" + v, rows[id], e.minutes[id]); }
      if (cfg.zones && e.zones) {
        cfg.zones.cls[v] = e.zones["class"].slice(); cfg.zones.measure[v] = e.zones.measure.slice();
        cfg.zones.coverage[v] = e.zones.coverage.slice(); cfg.zones.kind[v] = e.kind;
      }
    }
    showRules(V.zone_rules);
    drawEdits(answer.plan.edits);
    app.redraw();
    panel(answer);
  }
  function showRules(R) {
    var Z = cfg.zones;
    if (!Z || !R) return;
    if (!savedRules) savedRules = {start: Z.ruleStart, view: Z.ruleView, status: Z.ruleStatus.slice(), cell: Z.ruleCell.slice()};
    if (R.all) { Z.ruleStart = R.start; Z.ruleView = R.view; Z.ruleStatus = R.status.slice(); Z.ruleCell = []; }
    for (var k = 0; k < R.rows.length; k++) {
      var text = R.text[k], at = savedZoneRules[text];
      if (at === undefined) { Z.ruleText.push(text); at = savedZoneRules[text] = Z.ruleText.length - 1; }
      Z.ruleStatus[R.rows[k]] = R.status[k]; Z.ruleCell[R.rows[k]] = at;
    }
  }

  // ------------------------------------------------------------------ the edited facilities on the map
  function catOf(key) { for (var k = 0; k < E.categories.length; k++) if (E.categories[k].key === key) return E.categories[k]; return null; }
  function mark(ll, colour, text, cls, title, draggable) {
    var icon = L.divIcon({className: "planner-edit-mark " + (cls || ""), iconSize: [20, 20], iconAnchor: [10, 10],
      html: "<div style='background:" + colour + "'>" + text + "</div>"});
    return L.marker(ll, {icon: icon, draggable: !!draggable, title: title, keyboard: false, autoPan: false, zIndexOffset: 500});
  }
  function drawEdits(edits) {
    editLayer.clearLayers();
    app.hidden = {};
    function hide(id) { var at = facIndex[id]; if (at) { (app.hidden[at.cat] = app.hidden[at.cat] || {})[at.j] = true; } return at; }
    (edits.remove || []).forEach(function (id) {
      var at = hide(String(id));
      if (!at) return;
      var F = app.facilityTable(at.cat), m = mark(F.ll[at.j], "#bdbdbd", "×", "removed", plain(F.name[at.j]) + " · " + t("edit.remove"), false);
      m.bindTooltip(F.name[at.j] + " · " + t("edit.remove"));
      m.options.plannerId = String(id);
      editLayer.addLayer(m);
    });
    (edits.move || []).forEach(function (mv) {
      var at = hide(String(mv.id));
      if (!at) return;
      var F = app.facilityTable(at.cat);
      editable(mark([mv.lat, mv.lon], F.colour, "↔", "moved", plain(F.name[at.j]) + " · " + t("edit.move"), true), String(mv.id), F.name[at.j], t("edit.move"));
    });
    (edits.add || []).forEach(function (a) {
      var c = catOf(a.category) || {colour: "#3f007d", label: a.category};
      editable(mark([a.lat, a.lon], c.colour, "+", "added", (a.name || a.id) + " · " + t("edit.add"), true), String(a.id),
        esc(a.name || a.id) + " <small>(" + esc(c.label) + ")</small>", t("edit.add"));
    });
    sitesList(edits);
  }
  function editable(m, id, nameHtml, what) {
    m.options.plannerId = id;
    m.bindPopup(function () { return P.box("<b>" + nameHtml + "</b><br>" + what + "<br>" + t("btn.move") + buttons(id)); }, {className: "foliumpopup"});
    m.on("dragend", function (e) {
      var ll = e.target.getLatLng();
      edit({move: [{id: id, lon: round7(ll.lng), lat: round7(ll.lat)}]}, function () { return id; });
    });
    editLayer.addLayer(m);
  }
  function buttons(id) { return "<br><button type='button' class='planner-remove' data-planner-remove='" + esc(id) + "'>" + t("btn.remove") + "</button>"; }
  function round7(x) { return Math.round(x * 1e7) / 1e7; }

  // ------------------------------------------------------------------ isochrone of the facility just placed
  function clearIsochrone() { if (isoLayer) { map.removeLayer(isoLayer); isoLayer = null; } }
  function showIsochrone(id) {
    clearIsochrone();
    if (!id || !S.planId) return;
    api("GET", "api/plans/" + S.planId + "/isochrone/" + encodeURIComponent(id)).then(function (gj) {
      clearIsochrone();
      var f = gj.features[0], c = catOf(f.properties.category) || {colour: "#3f007d"};
      if (!f.geometry) return;
      isoLayer = L.geoJSON(gj, {style: {color: c.colour, weight: 2, dashArray: "6 4", fillColor: c.colour, fillOpacity: 0.12}, interactive: false}).addTo(map);
      isoLayer.plannerId = id;
    }).catch(function () { /* the plan moved on; nothing to draw */ });
  }
  function lastPlaced(body) {
    return function (answer) {
      var adds = answer.plan.edits.add || [];
      if (body.add && body.add.length) { var a = adds[adds.length - 1]; return a ? a.id : null; }
      return null;
    };
  }

  // ------------------------------------------------------------------ the 规划推演 block
  function status(text) { $("planner-edit-status").textContent = text; }
  function panel(answer) {
    var plan = answer.plan, ch = answer.changes, e = plan.edits, out = "";
    $("planner-undo").disabled = !plan.can_undo; $("planner-redo").disabled = !plan.can_redo; $("planner-save").disabled = $("planner-export").disabled = !plan.n_edits;
    if (!plan.n_edits) { $("planner-vs").innerHTML = "<i>" + t("no_edits") + "</i>"; return; }
    out += "<h4>" + t("vs") + "</h4><div>" + t("edits", {n: plan.n_edits, a: e.add.length, m: e.move.length, r: e.remove.length}) + "</div>";
    var rows = "";
    for (var cat in ch.served) {
      var s = ch.served[cat], g = s.gained, l = s.lost, parts = [], lost = [];
      ["population", "age_60_plus", "age_0_3"].forEach(function (k) {
        if (g[k]) parts.push(t("group." + k) + " <b class='up' data-group='" + k + "'>+" + num(g[k]) + "</b>");
        if (l[k]) lost.push(t("group." + k) + " <b class='down'>−" + num(l[k]) + "</b>");
      });
      rows += "<tr data-cat='" + esc(cat) + "'><td>" + esc(s.label) + "</td><td>" + (parts.join("，") || "0") +
        (s.compounds_gained ? "（" + s.compounds_gained + " " + t("compounds") + "）" : "") +
        (lost.length ? "<br>" + t("lost") + "：" + lost.join("，") : "") + "</td></tr>";
    }
    if (rows) out += "<h4>" + t("served", {t: E.longest}) + "</h4><table id='planner-served'>" + rows + "</table>";
    out += "<h4>" + t("compliance") + "</h4><div><span class='up'>" + t("rules_pass", {n: ch.passing}) + "</span>；<span class='down'>" +
      t("rules_fail", {n: ch.failing}) + "</span></div>";
    if (ch.rules.length) {
      var icon = function (st) { return st === "pass" ? "<span class='up'>✔</span>" : st === "fail" ? "<span class='down'>✘</span>" : "？"; };
      // one heading row per 街道 (its name across the table), then its rules: the panel is too narrow for a 街道 column
      out += "<table id='planner-rules'><tr><th>" + t("col.rule") + "</th><th>" + t("col.change") + "</th><th>" + t("col.short") + "</th></tr>";
      var order = [], groups = {};
      ch.rules.forEach(function (r) {
        if (!groups[r.subdistrict]) { groups[r.subdistrict] = []; order.push(r.subdistrict); }
        groups[r.subdistrict].push(r);
      });
      order.forEach(function (z) { groups[z].forEach(function (r, k) {
        if (k === 0) out += "<tr class='zone'><th colspan='3'>" + esc(r.subdistrict_name || r.subdistrict) + "</th></tr>";
        out += "<tr data-rule='" + esc(r.subdistrict + "|" + r.rule_id) + "'><td>" + esc(r.rule) + "</td><td class='nowrap'>" +
          icon(r.status_before) + num(r.value_before) + " → " + icon(r.status_after) + num(r.value_after) + "</td><td>" +
          (r.status_after === "fail" ? num(r.shortfall_after) : "") + "</td></tr>";
      }); });
      out += "</table>";
    } else out += "<div>" + t("no_rule_change") + "</div>";
    $("planner-vs").innerHTML = out;
  }
  function setMode(m) {
    S.mode = m;
    var b = document.querySelectorAll("#planner-edit .modes button");
    for (var k = 0; k < b.length; k++) b[k].classList.toggle("active", b[k].getAttribute("data-mode") === m);
    ["view", "add", "move", "remove"].forEach(function (x) { document.body.classList.toggle("planner-mode-" + x, x === m); });
    $("planner-add-form").style.display = m === "add" ? "" : "none";
    $("planner-edit-hint").textContent = t("hint." + m);
    map.closePopup();
  }
  function updateFormFields() {
    var c = catOf($("planner-add-cat").value) || {};
    ["places", "beds"].forEach(function (k) {
      $("planner-" + k + "-row").style.display = $("planner-" + k).style.display = c[k] ? "" : "none";
    });
  }
  function block() {
    var div = document.createElement("div");
    div.id = "planner-edit";
    var opts = E.categories.map(function (c) { return "<option value='" + esc(c.key) + "'>" + esc(c.label) + "</option>"; }).join("");
    div.innerHTML = "<h3>" + t("title") + "</h3><div class='modes'>" + ["view", "add", "move", "remove"].map(function (m) {
      return "<button type='button' data-mode='" + m + "'>" + t("mode." + m) + "</button>";
    }).join("") + "</div><div id='planner-add-form' class='form'><label for='planner-add-cat'>" + t("category") + "</label><select id='planner-add-cat'>" + opts +
      "</select><label for='planner-add-name'>" + t("name") + "</label><input id='planner-add-name' type='text' maxlength='60' placeholder='" + t("name_hint") + "'>" +
      "<label id='planner-places-row' for='planner-places'>" + t("places") + "</label><input id='planner-places' type='number' min='0' step='1'>" +
      "<label id='planner-beds-row' for='planner-beds'>" + t("beds") + "</label><input id='planner-beds' type='number' min='0' step='1'>" +
      "<label for='planner-puhui'>" + t("puhui") + "</label><span><input id='planner-puhui' type='checkbox'></span></div>" +
      "<div id='planner-edit-hint' class='hint'></div><div class='actions'><button type='button' id='planner-undo' disabled title='Ctrl+Z'>↶ " + t("undo") +
      "</button><button type='button' id='planner-redo' disabled title='Ctrl+Y'>↷ " + t("redo") + "</button><button type='button' id='planner-save' disabled>" + t("save") +
      "</button><button type='button' id='planner-export' disabled>" + t("export") + "</button></div><div id='planner-edit-status'></div><div id='planner-edit-error'></div><div id='planner-edit-saved'></div>" +
      (E.sites.length ? "<details id='planner-sites'><summary>" + t("sites") + "</summary><div></div></details>" : "") +
      "<div id='planner-vs'><i>" + t("no_edits") + "</i></div>" +
      "<details id='planner-saved'><summary>" + t("saved_plans") + "</summary><div id='planner-saved-list'></div>" +
      "<div class='actions'><button type='button' id='planner-compare-btn'>" + t("compare") + "</button></div><div id='planner-compare'></div></details>";
    var panelEl = $("planner-panel"), views = $("planner-views");
    panelEl.insertBefore(div, views.nextSibling);
    div.querySelectorAll(".modes button").forEach(function (b) { b.addEventListener("click", function () { setMode(b.getAttribute("data-mode")); }); });
    $("planner-add-cat").addEventListener("change", updateFormFields);
    $("planner-undo").addEventListener("click", undo);
    $("planner-redo").addEventListener("click", redo);
    $("planner-save").addEventListener("click", save);
    $("planner-export").addEventListener("click", exportReport);
    $("planner-saved").addEventListener("toggle", function () { if ($("planner-saved").open) listSaved(); });
    $("planner-compare-btn").addEventListener("click", compareChecked);
    updateFormFields();
  }
  function undo() { if (S.planId) send("undo"); }
  function redo() { if (S.planId) send("redo"); }
  function save() {
    return named("save", function (j) {
      S.saved = j;
      $("planner-edit-saved").textContent = t("saved", {folder: j.folder});
    });
  }
  // ------------------------------------------------------------------ saved plans: export, list, reopen, compare
  // a save or an export under a name: asked, sent, and sent again with overwrite when the planner confirms it
  function named(path, done) {
    if (!S.planId) return;
    var name = window.prompt(t("save_prompt"), "");
    if (!name) return;
    var put = function (overwrite) { return api("POST", "api/plans/" + S.planId + "/" + path, overwrite ? {name: name, overwrite: true} : {name: name}); };
    status(t("working"));
    return put(false).catch(function (e) {
      if (e.code === "plan_exists" && window.confirm(e.message)) return put(true);
      throw e;
    }).then(function (j) { status(""); if (j) { done(j); if ($("planner-saved").open) listSaved(); } return j; })
      .catch(function (e) { status(""); $("planner-edit-error").textContent = t("error") + "：" + e.message; });
  }
  function exportReport() {
    return named("report", function (j) {
      S.exported = j;
      var links = (j.links || []).map(function (l) { return "<a href='" + esc(l.url) + "' target='_blank' rel='noopener'>" + esc(l.file) + "</a>"; });
      $("planner-edit-saved").innerHTML = esc(t("exported", {folder: j.folder})) + (links.length ? "<br>" + links.join(" · ") : "");
    });
  }
  function listSaved() {
    return api("GET", "api/saved").then(function (j) {
      S.savedPlans = j.plans;
      var rows = j.plans.map(function (p) {
        if (p.error) return "<div class='saved-row bad'>" + esc(p.name) + "：" + esc(p.error) + "</div>";
        var e = p.edits || {};
        return "<div class='saved-row' data-name='" + esc(p.name) + "'><label><input type='checkbox' value='" + esc(p.name) + "'> " + esc(p.title || p.name) +
          "</label> <small>" + esc(String(p.saved_at || "").replace("T", " ").replace("Z", "")) + " · " +
          esc(t("edits", {n: (e.add || 0) + (e.move || 0) + (e.remove || 0), a: e.add || 0, m: e.move || 0, r: e.remove || 0})) +
          "</small> <button type='button' data-open='" + esc(p.name) + "'>" + t("open") + "</button></div>";
      });
      $("planner-saved-list").innerHTML = rows.length ? rows.join("") : "<i>" + t("none_saved") + "</i>";
      $("planner-saved-list").querySelectorAll("button[data-open]").forEach(function (b) {
        b.addEventListener("click", function () { openSaved(b.getAttribute("data-open")); });
      });
      return j.plans;
    }).catch(function (e) { $("planner-edit-error").textContent = t("error") + "：" + e.message; });
  }
  // a saved plan reopened as a new plan of this page: its edits one step, the map redrawn from the answer
  function openSaved(name) {
    return api("POST", "api/saved/" + encodeURIComponent(name) + "/open", {}).then(function (answer) {
      S.planId = answer.id;
      try { sessionStorage.setItem("planner-plan", answer.id); } catch (e) { /* private mode */ }
      show(answer);
      return answer;
    }).catch(function (e) { $("planner-edit-error").textContent = t("error") + "：" + e.message; });
  }
  // the present, the checked saved plans and this page's plan side by side (GET /api/compare)
  function compareChecked() {
    var names = Array.prototype.map.call($("planner-saved-list").querySelectorAll("input[type=checkbox]:checked"), function (c) { return c.value; });
    if (S.planId && S.last && S.last.plan.n_edits) names.push("live:" + S.planId);
    if (!names.length) { $("planner-compare").innerHTML = "<i>" + t("compare_none") + "</i>"; return Promise.resolve(null); }
    return api("GET", "api/compare?plans=" + names.map(encodeURIComponent).join(",")).then(function (j) {
      S.compared = j;
      var en = E.lang === "en", cols = j.columns.map(function (c) { return c.kind === "present" ? (en ? c.name_en : c.name) : (c.kind === "live" ? t("this_plan") : c.name); });
      var head = "<tr><th></th>" + cols.map(function (c) { return "<th>" + esc(c) + "</th>"; }).join("") + "</tr>";
      var served = j.served.filter(function (r) { return r.kind === "view"; }).map(function (r) {
        return "<tr><td>" + esc(en ? r.label_en : r.label) + " · " + esc(en ? r.group_label_en : r.group_label) + "</td>" +
          r.values.map(function (v) { return "<td>" + num(v) + "</td>"; }).join("") + "</tr>";
      }).join("");
      var pass = "<tr><td>" + t("rules_passing") + "</td>" + j.rules_passing.map(function (v) { return "<td>" + num(v) + "</td>"; }).join("") + "</tr>";
      var icon = function (st) { return st === "pass" ? "<span class='up'>✔</span>" : st === "fail" ? "<span class='down'>✘</span>" : "？"; };
      var rules = j.rules.slice(0, 30).map(function (r) {
        return "<tr><td>" + esc(r.subdistrict_name || r.subdistrict) + "：" + esc(en ? (r.rule_en || r.rule) : r.rule) + "</td>" +
          r.status.map(function (st, k) { return "<td class='nowrap'>" + icon(st) + num(r.value[k]) + "</td>"; }).join("") + "</tr>";
      }).join("");
      $("planner-compare").innerHTML = "<h4>" + t("compare_served", {t: j.minutes}) + "</h4><table id='planner-compare-table'>" + head + served + pass +
        (rules ? "<tr class='zone'><th colspan='" + (cols.length + 1) + "'>" + t("compare_rules", {n: j.rules.length}) + "</th></tr>" + rules : "") + "</table>";
      return j;
    }).catch(function (e) { $("planner-edit-error").textContent = t("error") + "：" + e.message; });
  }

  // ------------------------------------------------------------------ suggested sites on / off
  function siteAdds(i, edits) {
    var s = E.sites[i];
    return (edits.add || []).filter(function (a) { return Math.abs(a.lon - s.lon) < 5e-8 && Math.abs(a.lat - s.lat) < 5e-8 && s.cats.indexOf(a.category) >= 0; });
  }
  function siteOn(i) { return S.last ? siteAdds(i, S.last.plan.edits).length > 0 : false; }
  function toggleSite(i, on) {
    var s = E.sites[i];
    if (on) {
      edit({add: s.cats.map(function (c) { return {category: c, lon: s.lon, lat: s.lat, name: s.name || undefined}; })}, function (answer) {
        var a = siteAdds(i, answer.plan.edits); return a.length ? a[0].id : null;
      });
    } else if (S.last) {
      var ids = siteAdds(i, S.last.plan.edits).map(function (a) { return a.id; });
      if (ids.length) edit({remove: ids});
    }
  }
  function sitesList(edits) {
    var box = document.querySelector("#planner-sites div");
    if (!box) return;
    box.innerHTML = E.sites.map(function (s, i) {
      return "<label><input type='checkbox' data-site='" + i + "'" + (siteAdds(i, edits).length ? " checked" : "") + "> " + s.no + " · " + esc(s.name) + "</label>";
    }).join("");
  }

  // ------------------------------------------------------------------ the mouse and the keys
  function inMap(e) {
    var box = map.getContainer();
    return box.contains(e.target) && !(e.target.closest && e.target.closest(".leaflet-popup, .leaflet-control, .leaflet-marker-icon"));
  }
  function facilityAt(e) {
    var hit = P.pointHits(map.mouseEventToContainerPoint(e));
    if (!hit) return null;
    for (var cat in facLayers) if (facLayers[cat] === hit.layer) return {cat: cat, j: hit.i};
    return null;
  }
  function refreshLayers() {
    facLayers = {};
    var order = cfg.facilityOrder;
    for (var k = 0; k < order.length; k++) {
      var o = app.overlays[app.facilityTable(order[k]) ? cfg.facilityLayers[order[k]].label : ""];
      if (o && o.layer._inner) facLayers[order[k]] = o.layer._inner;
    }
  }
  function wireMouse() {
    var down = null, drag = null;
    document.addEventListener("mousedown", function (e) {
      down = [e.clientX, e.clientY];
      if (S.mode !== "move" || !inMap(e)) return;
      refreshLayers();
      var f = facilityAt(e);
      if (!f) return;
      var F = app.facilityTable(f.cat);
      e.stopPropagation(); e.preventDefault();
      map.dragging.disable();
      drag = {f: f, ghost: mark(F.ll[f.j], F.colour, "↔", "moved", plain(F.name[f.j]), false).addTo(map)};
    }, true);
    document.addEventListener("mousemove", function (e) {
      if (drag) drag.ghost.setLatLng(map.mouseEventToLatLng(e));
    }, true);
    document.addEventListener("mouseup", function (e) {
      if (!drag) return;
      var d = drag, ll = map.mouseEventToLatLng(e), F = app.facilityTable(d.f.cat), id = plain(F.ids[d.f.j]);
      drag = null; map.dragging.enable(); map.removeLayer(d.ghost);
      if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) < 4) return;
      edit({move: [{id: id, lon: round7(ll.lng), lat: round7(ll.lat)}]}, function () { return id; });
    }, true);
    document.addEventListener("click", function (e) {
      var rm = e.target.closest && e.target.closest("[data-planner-remove]");
      if (rm) { e.stopPropagation(); e.preventDefault(); map.closePopup(); edit({remove: [rm.getAttribute("data-planner-remove")]}); return; }
      var site = e.target.closest && e.target.closest("[data-planner-site]");
      if (site) { e.stopPropagation(); e.preventDefault(); map.closePopup(); toggleSite(+site.getAttribute("data-planner-site"), site.getAttribute("data-on") === "1"); return; }
      var box = e.target.closest && e.target.closest("#planner-sites input[data-site]");
      if (box) { toggleSite(+box.getAttribute("data-site"), box.checked); return; }
      if (!inMap(e) || (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4)) return;
      if (S.mode === "add") {
        e.stopPropagation(); e.preventDefault();
        var ll = map.mouseEventToLatLng(e), a = {category: $("planner-add-cat").value, lon: round7(ll.lng), lat: round7(ll.lat)};
        var name = $("planner-add-name").value.trim(), c = catOf(a.category) || {};
        if (name) a.name = name;
        if (c.places && $("planner-places").value !== "") a.places = +$("planner-places").value;
        if (c.beds && $("planner-beds").value !== "") a.beds = +$("planner-beds").value;
        a.public_benefit = $("planner-puhui").checked;
        var body = {add: [a]};
        edit(body, lastPlaced(body));
      } else if (S.mode === "remove") {
        refreshLayers();
        var f = facilityAt(e);
        if (!f) return;
        e.stopPropagation(); e.preventDefault();
        edit({remove: [plain(app.facilityTable(f.cat).ids[f.j])]});
      }
    }, true);
    document.addEventListener("keydown", function (e) {
      if (e.target.closest && e.target.closest("input, select, textarea")) return;
      if (!(e.ctrlKey || e.metaKey)) return;
      var k = e.key.toLowerCase();
      if (k === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
      else if (k === "y" || (k === "z" && e.shiftKey)) { e.preventDefault(); redo(); }
    });
  }

  // ------------------------------------------------------------------ start
  function init(mapApp, editor) {
    app = mapApp; map = app.map; cfg = app.config(); E = editor; T = app.compoundTable();
    for (var k = 0; k < cfg.facilityOrder.length; k++) {
      var cat = cfg.facilityOrder[k], F = app.facilityTable(cat);
      if (F && F.ids) for (var j = 0; j < F.ids.length; j++) facIndex[plain(F.ids[j])] = {cat: cat, j: j};
    }
    editLayer = L.featureGroup().addTo(map);
    app.facilityExtra = function (cat, j) { var F = app.facilityTable(cat); return F.ids ? buttons(plain(F.ids[j])) : ""; };
    app.siteExtra = function (i) {
      var on = siteOn(i);
      return "<br><button type='button' data-planner-site='" + i + "' data-on='" + (on ? "0" : "1") + "'>" + t(on ? "site_off" : "site_on") + "</button>";
    };
    block();
    sitesList({add: []});
    setMode("view");
    wireMouse();
    try { S.token = sessionStorage.getItem("planner-token"); } catch (e) { /* private mode */ }
    var stored = null;
    try { stored = sessionStorage.getItem("planner-plan"); } catch (e) { /* private mode */ }
    S.ready = api("GET", "api/state").then(function (s) {
      S.state = s;
      if (!stored) return null;
      return api("GET", "api/plans/" + stored).then(function (answer) { S.planId = stored; show(answer); return answer; }, function () {
        try { sessionStorage.removeItem("planner-plan"); } catch (e) { /* private mode */ }
        return null;
      });
    }).catch(function (e) { $("planner-edit-error").textContent = t("error") + "：" + e.message; });
    return S;
  }

  S.init = init;
  S.setMode = function (m) { setMode(m); };
  S.undo = undo; S.redo = redo;
  S.listSaved = listSaved; S.openSaved = openSaved; S.compare = compareChecked; S.exportReport = exportReport;
  S.edit = edit;
  S.sites = function () { return E.sites; };
  S.isochroneShown = function () { return isoLayer ? isoLayer.plannerId : null; };
  S.editMarkers = function () {
    var out = [];
    editLayer.eachLayer(function (m) { var p = map.latLngToContainerPoint(m.getLatLng()); out.push({id: m.options.plannerId, x: p.x, y: p.y, kind: m.options.icon.options.className}); });
    return out;
  };
  return S;
})();
