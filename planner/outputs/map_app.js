// The gap map's side panel and thematic views (planner.outputs.maps builds the data; planner.outputs.map_layers
// holds the packed-layer decoder, plannerLayers). One view answers one question: the compounds are coloured by
// their walking-time band in that view, and only the view's facilities, isochrones, 街道 measure, rules and
// suggested sites are shown. The panel beside the map (never over it) holds the search box, the view switcher,
// the legend and the grouped layer list; it collapses for a full-width map.
var plannerApp = (function () {
  "use strict";
  var P = plannerLayers, app = {map: null, view: null, overlays: {}, groups: {}, hidden: {}};
  var cfg, T, map, compounds, facilities = {}, zones = null, zoneLabels = null, isos = {}, sites = null, catchments = null;
  var highlight = null, facilityArea = null;

  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (html !== undefined) e.innerHTML = html;
    return e;
  }
  function pct(v) { return v < 0 ? "—" : (v / 10).toFixed(1).replace(/\.0$/, "") + "%"; }
  function view() { return cfg.views[app.view]; }

  // ------------------------------------------------------------------ compounds: coloured by the view's band
  function bandColour(b) { return b < 0 ? cfg.notConnectedColour : (b < cfg.bandColours.length ? cfg.bandColours[b] : cfg.neutralColour); }
  function compoundStyle(i) {
    var b = T.cols["b_" + app.view][i], r = T.cols.r[i] / 10;
    return b < 0 ? {radius: Math.max(r, 6), color: "#000000", weight: 2, fillColor: "#ffffff", fillOpacity: 0.9, dash: [2, 2]}
      : {radius: r, color: "#333333", weight: 1, fillColor: bandColour(b), fillOpacity: b < cfg.bandColours.length ? 0.9 : 0.45};
  }
  function openPopup(latlng, html, width, onClose) {
    var p = L.popup({className: "foliumpopup", maxWidth: width, autoPanPaddingTopLeft: [20, 90]}).setLatLng(latlng)
      .setContent(P.box(html)).openOn(map);
    if (onClose) p.on("remove", onClose);
    return p;
  }
  function minutesText(tenths) { return tenths < 0 ? T.labels.none : P.tenths(tenths) + " " + T.labels.minutes; }
  function catRow(k, i) {
    var c = T.cols, d = c["d" + k][i], ok = Math.floor(c["w" + Math.floor(k / 30)][i] / Math.pow(2, k % 30)) % 2 === 1;
    var nearest = c["n" + k][i] < 0 ? "" : T.nearest[c["n" + k][i]];
    return "<tr><td style='color:" + (ok ? "#1a9850" : "#d73027") + "'>" + (ok ? "✔" : "✘") + "</td><td>" + T.cats[k] +
      "</td><td>" + (d < 0 ? T.labels.none : P.thousands(d) + " m · " + P.tenths(c["m" + k][i]) + " " + T.labels.minutes) +
      "</td><td>" + nearest + "</td></tr>";
  }
  function compoundPopup(i) {
    var v = view(), c = T.cols, out = "<b>" + T.name[i] + "</b>";
    if (T.zone) out += " <span style='color:#666'>" + T.zoneNames[c.z[i]] + "</span>";
    var facts = [];
    for (var f = 0; f < T.facts.length; f++) if (c["f" + f][i] >= 0) facts.push(T.factLabels[f] + " " + P.thousands(c["f" + f][i]));
    out += "<br>" + facts.join(T.labels.sep);
    var b = c["b_" + app.view][i];
    if (b < 0) return out + "<br><i>" + T.labels.notConnected + "</i>";
    if (v.answer) out += "<br><b style='color:" + (b < cfg.thresholds.length ? "#1a9850" : "#d73027") + "'>" + v.answer + T.labels.colon +
      (c["t_" + app.view][i] < 0 ? T.labels.none : minutesText(c["t_" + app.view][i])) + "</b>";
    if (app.view === "circle" && T.missing) {
      out += "<br>" + T.labels.formats + T.labels.colon + c.fp[i] + "/" + T.nBasic;
      var m = T.missing[c.fm[i]];
      if (m) out += "<br>" + T.labels.formatsMissing + T.labels.colon + m;
      return out;
    }
    if (!v.cats.length) return out;
    var rows = "";
    for (var k = 0; k < v.cats.length; k++) rows += catRow(v.cats[k], i);
    return out + "<table style='font-size:12px'>" + rows + "</table>";
  }
  function makeCompounds() {
    var g = new P.PointCanvas(T.ll, compoundStyle, null);
    g.fullZoom = cfg.pointFullZoom;
    g.tooltip = function (i) { return T.name[i]; };
    g.on("pointclick", function (e) { compoundClick(e.i); });
    return g;
  }
  function compoundClick(i) { openPopup(T.ll[i], compoundPopup(i), 380); }
  function restyleCompounds() { compounds.redraw(); }

  // ------------------------------------------------------------------ facilities: a click shows whom it serves
  function serveHighlight(cat, idx) {
    clearHighlight();
    var k = T.catIndex[cat], q = k === undefined ? null : T.cols["q" + k];
    if (!q) return;
    var rows = [], band = {};
    for (var i = 0; i < q.length; i++) {
      if (q[i] !== idx) continue;
      // within the longest threshold as the run decided it (its bit), in the band of its metres
      if (Math.floor(T.cols["w" + Math.floor(k / 30)][i] / Math.pow(2, k % 30)) % 2 !== 1) continue;
      var d = T.cols["d" + k][i], b = 0, lim = cfg.catThresholdsM ? cfg.catThresholdsM[k] : cfg.thresholdsM;  // its speed
      while (b < lim.length - 1 && d > lim[b]) b++;
      rows.push(i); band[i] = b;
    }
    highlight = new P.PointCanvas(T.ll, function (i) {
      return {radius: T.cols.r[i] / 10 + 4, color: cfg.bandColours[band[i]], weight: 4};
    }, rows, false).addTo(map);
  }
  function facilityClick(cat, j) {
    var F = facilities[cat], text = "<b>" + F.t.name[j] + "</b><br>" + F.t.details[F.t.cols.x[j]];
    if (app.facilityExtra) text += app.facilityExtra(cat, j);  // e.g. the editor's buttons (planner serve)
    var popup = openPopup(F.t.ll[j], text, 320, clearHighlight);  // closing the previous popup clears its rings first
    serveHighlight(cat, j);
    showFacilityArea(cat, j, F.colour);
    if (highlight) popup.setContent(P.box(text + "<br>" + cfg.labels.serves.replace("{n}", highlight._rows.length)));
  }
  function makeFacilities(cat) {
    var F = facilities[cat];
    return P.lazy(function () {
      var g = new P.PointCanvas(F.t.ll, function (i) {
        if (app.hidden[cat] && app.hidden[cat][i]) return null;  // removed or moved away by a plan (planner serve)
        return {radius: 5, color: "#ffffff", weight: 1.5, fillColor: F.colour, fillOpacity: 1};
      }, null);
      g.fullZoom = cfg.pointFullZoom;
      g.tooltip = function (i) { return F.t.name[i]; };
      g.on("pointclick", function (e) { facilityClick(cat, e.i); });
      return g;
    });
  }
  function clearHighlight() {
    if (highlight) { map.removeLayer(highlight); highlight = null; }
    if (facilityArea) { map.removeLayer(facilityArea); facilityArea = null; }
  }
  // the facility's own isochrone at the longest threshold, when the run drew one per facility
  function showFacilityArea(cat, j, colour) {
    var I = cfg.facilityIso, of = I && I.of[cat];
    if (!of || of[j] === undefined || of[j] < 0) return;
    var r = P.rings(I)[of[j]];
    if (r && r.length) facilityArea = L.polygon(r, {color: colour, weight: 2, dashArray: "5 4", fillColor: colour, fillOpacity: 0.12, interactive: false}).addTo(map);
  }

  // ------------------------------------------------------------------ 街道: choropleth of the view's measure
  function zoneStyle(i) {
    var cls = cfg.zones.cls[app.view][i];
    return {color: "#3f007d", weight: 2, dashArray: "6 4", fill: true, fillColor: cls < 0 ? "#bdbdbd" : cfg.zoneRamp[cls], fillOpacity: 0.35};
  }
  function zonePopup(i) {
    var Z = cfg.zones, v = view(), out = "<b>" + Z.name[i] + "</b>";
    if (Z.pop[i] >= 0) out += "<br>" + T.labels.population + " " + P.thousands(Z.pop[i]);
    if (v.answer) out += "<br>" + v.measure + T.labels.colon + "<b>" + pct(Z.coverage[app.view][i]) + "</b>";
    if (Z.kind[app.view] === "rules") out += "<br>" + v.rulesMeasure + T.labels.colon + "<b>" + pct(Z.measure[app.view][i]) + "</b>";
    var rows = "", shown = 0, more = 0, start = Z.ruleStart[i], end = Z.ruleStart[i + 1];
    for (var r = start; r < end; r++) {
      var rv = Z.ruleView[r];
      if (app.view !== "compliance" && rv !== app.view) continue;
      if (app.view === "compliance" && Z.ruleStatus[r] === 0) continue;  // 达标: the rules that fail
      if (shown >= 8) { more++; continue; }
      shown++;
      rows += "<tr><td style='color:" + ["#1a9850", "#d73027", "#777777"][Z.ruleStatus[r]] + "'>" + ["✔", "✘", cfg.labels.unknownMark][Z.ruleStatus[r]] +
        "</td><td>" + Z.ruleText[Z.ruleCell[r]] + "</td></tr>";
    }
    if (rows) out += "<table style='font-size:12px;max-width:360px'>" + rows + "</table>";
    else if (app.view === "compliance") out += "<br>" + cfg.labels.allPass;
    if (more) out += "<i>" + cfg.labels.more.replace("{n}", more) + "</i><br>";
    return out + "<a href='" + cfg.reportLink + "' target='_blank'>" + cfg.labels.fullTable + "</a>";
  }
  function makeZones(table) {
    var g = L.featureGroup(), r = P.rings(table);
    for (var i = 0; i < r.length; i++) {
      if (!r[i].length) continue;
      var o = zoneStyle(i); o.i = i;
      g.addLayer(L.polygon(r[i], o));
    }
    g.bindPopup(function (layer) { return P.box(zonePopup(layer.options.i)); }, {className: "foliumpopup", maxWidth: 400, autoPanPaddingTopLeft: [20, 90]});
    return g;
  }
  // 街道 names at their label points; with many 街道 only from zone labelZoom on (made when first needed)
  function makeZoneLabels() {
    var g = L.featureGroup(), Z = cfg.zones, inner = null;
    function byZoom() {
      var want = map.getZoom() >= Z.labelZoom;
      if (want && !inner) {
        inner = L.featureGroup();
        var ll = P.coords(Z.lp, Z.scale);
        for (var i = 0; i < ll.length; i++)
          inner.addLayer(L.tooltip({permanent: true, direction: "center", className: "planner-zone-label", interactive: false})
            .setLatLng(ll[i]).setContent(Z.name[i]));
      }
      if (want && !g.hasLayer(inner)) g.addLayer(inner);
      if (!want && inner && g.hasLayer(inner)) g.removeLayer(inner);
    }
    g.on("add", function () { map.on("zoomend", byZoom); byZoom(); });
    g.on("remove", function () { map.off("zoomend", byZoom); });
    return g;
  }

  // ------------------------------------------------------------------ suggested sites: numbered, with catchment
  function makeSites() {
    var S = cfg.sites, g = L.featureGroup(), ll = P.coords(S.xy, S.scale);
    S.ll = ll; S.markers = [];
    for (var i = 0; i < ll.length; i++) {
      var icon = L.divIcon({className: "planner-site", iconSize: [26, 26], iconAnchor: [13 - S.dx[i], 13 - S.dy[i]],
        html: "<div style='background:" + S.colour[i] + "'>" + S.no[i] + "</div>"});
      var m = L.marker(ll[i], {icon: icon, title: plain(S.title[i]), riseOnHover: true, i: i, keyboard: false});
      m.bindPopup(function (layer) { var k = layer.options.i; return P.box(S.popup[k] + (app.siteExtra ? app.siteExtra(k) : "")); },
        {className: "foliumpopup", maxWidth: 420, autoPanPaddingTopLeft: [20, 90]});
      m.on("popupopen", function (e) { showCatchment(e.target.options.i); });
      m.on("popupclose", hideCatchment);
      S.markers.push(m);
      g.addLayer(m);
    }
    return g;
  }
  function showCatchment(i) {
    hideCatchment();
    var C = cfg.catchments;
    if (!C || C.of[i] < 0) return;
    var r = P.rings(C)[C.of[i]];
    if (!r || !r.length) return;
    catchments = L.polygon(r, {color: "#000000", weight: 2, dashArray: "4 3", fillColor: cfg.sites.colour[i], fillOpacity: 0.18, interactive: false}).addTo(map);
  }
  function hideCatchment() { if (catchments) { map.removeLayer(catchments); catchments = null; } }
  function siteVisible(i) { var v = cfg.sites.views[i]; return app.view === "compliance" || v.indexOf(app.view) >= 0; }
  function filterSites() {
    if (!sites) return;
    for (var i = 0; i < cfg.sites.markers.length; i++) {
      var m = cfg.sites.markers[i], want = siteVisible(i);
      if (want && !sites.hasLayer(m)) sites.addLayer(m);
      if (!want && sites.hasLayer(m)) sites.removeLayer(m);
    }
  }

  // ------------------------------------------------------------------ the panel
  function overlay(name, layer, group, shown) {
    app.overlays[name] = {layer: layer, group: group, shown: !!shown};
    if (shown) layer.addTo(map);
  }
  function setShown(name, on) {
    var o = app.overlays[name];
    if (!o) return;
    o.shown = on;
    if (on && !map.hasLayer(o.layer)) o.layer.addTo(map);
    if (!on && map.hasLayer(o.layer)) map.removeLayer(o.layer);
    if (o.layer === sites) filterSites();
    var boxes = document.querySelectorAll("#planner-layers input[data-overlay]");  // the layer list follows
    for (var k = 0; k < boxes.length; k++) if (boxes[k].getAttribute("data-overlay") === name) boxes[k].checked = on;
  }
  function legendHtml() {
    var v = view(), out = "<div class='planner-legend-title'>" + v.question + "</div>";
    if (v.answer) {
      out += "<div class='planner-legend-sub'>" + v.answer + "</div>";
      for (var b = 0; b < cfg.bandLabels.length; b++)
        out += "<div><i class='planner-dot' style='background:" + cfg.bandColours[b] + "'></i>" + cfg.bandLabels[b] + "</div>";
    } else {
      out += "<div><i class='planner-dot' style='background:" + cfg.neutralColour + "'></i>" + cfg.labels.compound + "</div>";
    }
    out += "<div><i class='planner-dot' style='background:#fff;border:2px dashed #000'></i>" + T.labels.notConnected + "</div>";
    out += "<div class='planner-legend-sub'>" + cfg.labels.sizeNote + "</div>";
    for (var k = 0; k < v.facilities.length; k++) {
      var f = cfg.facilityLayers[v.facilities[k]];
      out += "<div><i class='planner-dot planner-small' style='background:" + f.colour + "'></i>" + f.label + "</div>";
    }
    if (cfg.oneN && app.view === "childcare")  // 1+N 托育: the hubs and the points without a hub
      out += "<div><i class='planner-dot' style='background:#8e24aa;border:2px solid #4a148c'></i>" + cfg.oneN.hubLabel +
        "</div><div><i class='planner-dot' style='background:#fff;border:3px solid #d32f2f'></i>" + cfg.oneN.unassignedLabel + "</div>";
    if (cfg.sites && cfg.sites.no.some(function (_, i) { return siteVisible(i); })) {
      out += "<div class='planner-legend-sub'>" + cfg.labels.siteKey + "</div>";
      cfg.sites.tasks.forEach(function (task, k) {  // one entry per task with a site in this view
        var first = -1;
        for (var i = 0; i < cfg.sites.no.length && first < 0; i++) if (cfg.sites.task[i] === k && siteVisible(i)) first = i;
        if (first >= 0) out += "<div><span class='planner-site planner-site-key'><div style='background:" + task.colour + "'>" +
          cfg.sites.no[first] + "</div></span>" + task.name + "</div>";
      });
    }
    if (zones) {
      out += "<div class='planner-legend-sub'>" + cfg.labels.zoneFill + (cfg.zones.kind[app.view] === "rules" ? v.rulesMeasure : v.measure) +
        "</div><div class='planner-ramp'>";
      for (var c = 0; c < cfg.zoneRamp.length; c++) out += "<span style='background:" + cfg.zoneRamp[c] + "'>" + (c * 20) + "–" + (c * 20 + 20) + "%</span>";
      out += "</div>";
    }
    return out;
  }
  function layersHtml() {
    var v = view(), groups = {}, order = [];
    for (var name in app.overlays) {
      var o = app.overlays[name];
      if (o.views && o.views.indexOf(app.view) < 0) continue;
      if (!groups[o.group]) { groups[o.group] = []; order.push(o.group); }
      groups[o.group].push(name);
    }
    var out = "";
    for (var g = 0; g < order.length; g++) {
      out += "<details open><summary>" + order[g] + "</summary>";
      for (var n = 0; n < groups[order[g]].length; n++) {
        var key = groups[order[g]][n];
        out += "<label><input type='checkbox' data-overlay='" + key.replace(/'/g, "&#39;") + "'" + (app.overlays[key].shown ? " checked" : "") + "> " + key + "</label>";
      }
      out += "</details>";
    }
    return out;
  }
  function refreshPanel() {
    document.getElementById("planner-legend").innerHTML = legendHtml();
    var box = document.getElementById("planner-layers");
    box.innerHTML = layersHtml();
    var inputs = box.querySelectorAll("input[data-overlay]");
    for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener("change", function (e) { setShown(e.target.getAttribute("data-overlay"), e.target.checked); });
    var buttons = document.querySelectorAll("#planner-views button");
    for (var b = 0; b < buttons.length; b++) buttons[b].classList.toggle("active", buttons[b].getAttribute("data-view") === app.view);
    document.body.setAttribute("data-view", app.view);
  }
  function setView(key) {
    if (!cfg.views[key]) return;
    app.view = key;
    var v = view();
    map.closePopup(); clearHighlight(); hideCatchment();
    for (var name in app.overlays) {
      var o = app.overlays[name];
      if (!o.views) continue;
      setShown(name, o.views.indexOf(key) >= 0 && (o.defaultOn === undefined || o.defaultOn.indexOf(key) >= 0));
    }
    if (compounds) restyleCompounds();
    if (zones) zones.eachLayer(function (l) { l.setStyle(zoneStyle(l.options.i)); });
    filterSites();
    if (v) refreshPanel();
  }

  // ------------------------------------------------------------------ search: 小区, facilities, 街道, sites by name
  var index = null;
  function buildIndex() {
    index = [];  // 街道 and sites first: the few that a name is most likely meant for
    if (cfg.zones) for (var z = 0; z < cfg.zones.name.length; z++) index.push({t: cfg.zones.name[z], k: cfg.labels.kindZone, go: goZone(z)});
    if (cfg.sites) for (var s = 0; s < cfg.sites.no.length; s++) index.push({t: cfg.sites.title[s], k: cfg.labels.kindSite, go: goSite(s)});
    if (T) for (var i = 0; i < T.name.length; i++) {
      var where = T.zone ? " · " + T.zoneNames[T.cols.z[i]] : "";  // the 街道 tells apart compounds of one name
      index.push({t: T.name[i], k: cfg.labels.kindCompound + where, go: goCompound(i)});
    }
    for (var cat in facilities) {
      var F = facilities[cat];
      for (var j = 0; j < F.t.name.length; j++) index.push({t: F.t.name[j], k: F.label, go: goFacility(cat, j)});
    }
  }
  // the text of escaped HTML (names are sent escaped), decoded without a DOM element per name
  var entities = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#x27;": "'"};
  function plain(t) { return String(t).replace(/&(amp|lt|gt|quot|#x27);/g, function (e) { return entities[e]; }); }
  function search(text) {
    if (!index) { buildIndex(); index.forEach(function (e) { e.p = plain(e.t); }); }  // each name decoded once
    var q = String(text || "").trim(), exact = [], first = [], other = [];
    if (!q) return [];
    for (var i = 0; i < index.length && exact.length + first.length < 12; i++) {  // the name itself, then names it begins, then holds
      var name = index[i].p, at = name.indexOf(q);
      if (name === q) exact.push(index[i]); else if (at === 0) first.push(index[i]); else if (at > 0 && other.length < 12) other.push(index[i]);
    }
    return exact.concat(first, other).slice(0, 12);
  }
  function goCompound(i) { return function () { if (!map.hasLayer(compounds)) setShown(cfg.labels.compoundsLayer, true); map.setView(T.ll[i], Math.max(map.getZoom(), 16)); compoundClick(i); }; }
  function goFacility(cat, j) {
    return function () {
      var F = facilities[cat], views = cfg.facilityLayers[cat].views;
      if (views.length && views.indexOf(app.view) < 0) setView(views[0]);  // a view that shows the facility
      setShown(F.label, true);
      map.setView(F.t.ll[j], Math.max(map.getZoom(), 16));
      facilityClick(cat, j);
    };
  }
  function goZone(z) {
    return function () {
      var layer = null;
      setShown(cfg.labels.zonesLayer, true);
      zones.eachLayer(function (l) { if (l.options.i === z) layer = l; });
      if (!layer) return;
      map.fitBounds(layer.getBounds(), {animate: false});  // framed before the popup pans itself into view
      var ll = P.coords(cfg.zones.lp, cfg.zones.scale)[z];
      layer.fire("click", {latlng: L.latLng(ll)}, true);
    };
  }
  function goSite(s) {
    return function () {
      var m = cfg.sites.markers[s];
      if (!siteVisible(s)) setView(cfg.sites.views[s][0] || "compliance");  // a view that shows the site
      setShown(cfg.labels.sitesLayer, true);
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 16));
      m.openPopup();
    };
  }
  function wireSearch() {
    var input = document.getElementById("planner-search"), list = document.getElementById("planner-search-results");
    function show() {
      var found = search(input.value);
      list.innerHTML = "";
      if (!found.length && input.value.trim()) list.innerHTML = "<li class='planner-none'>" + cfg.labels.noMatch + "</li>";
      found.forEach(function (hit) {
        var li = el("li", {}, hit.t + " <small>" + hit.k + "</small>");
        li.addEventListener("click", function () { list.innerHTML = ""; hit.go(); });
        list.appendChild(li);
      });
    }
    input.addEventListener("input", show);
    map.on("click movestart", function () { list.innerHTML = ""; });  // the list closes when the map is used
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") { var f = search(input.value); if (f.length) { list.innerHTML = ""; f[0].go(); } } });
  }

  // ------------------------------------------------------------------ start
  function init(m, config, tables) {
    map = app.map = m; cfg = config;
    // the zoom the page opens at, before the layers are made: the compounds framed to a quarter zoom level
    map.options.zoomSnap = 0.25;
    if (cfg.bounds) map.fitBounds(cfg.bounds, {animate: false});
    T = tables.compounds; app.view = cfg.viewOrder[0]; app.views = cfg.viewOrder.slice();
    P.watchPoints(m);
    m.options.maxZoom = 19;
    if (tables.streets) overlay(cfg.labels.streetsLayer, tables.streets, cfg.labels.groupBase, cfg.streetsOn);
    if (tables.zones) {
      zones = makeZones(tables.zones);
      overlay(cfg.labels.zonesLayer, zones, cfg.labels.groupZones, true);
      zoneLabels = makeZoneLabels();
      overlay(cfg.labels.zoneLabels, zoneLabels, cfg.labels.groupZones, true);
    }
    for (var key in tables.iso) {
      isos[key] = tables.iso[key];
      for (var b = isos[key].length - 1; b >= 0; b--) {
        var it = isos[key][b];
        overlay(it.label, it.layer, cfg.labels.groupIso, false);
        app.overlays[it.label].views = [key]; app.overlays[it.label].defaultOn = [];
      }
    }
    if (T) {
      compounds = makeCompounds();
      overlay(cfg.labels.compoundsLayer, compounds, cfg.labels.groupCompounds, true);
    }
    for (var f = 0; f < cfg.facilityOrder.length; f++) {
      var cat = cfg.facilityOrder[f], meta = cfg.facilityLayers[cat];
      facilities[cat] = {t: tables.facilities[cat], label: meta.label, colour: meta.colour};
      overlay(meta.label, makeFacilities(cat), meta.views.length ? cfg.labels.groupFacilities : cfg.labels.groupOther, false);
      app.overlays[meta.label].views = meta.views.length ? meta.views : cfg.viewOrder.slice();
      app.overlays[meta.label].defaultOn = meta.views;
    }
    if (cfg.sites) {
      sites = makeSites();
      overlay(cfg.labels.sitesLayer, sites, cfg.labels.groupSites, true);
    }
    if (cfg.oneN) {  // 1+N 托育: a line from each community point to its hub, hubs marked, points without a hub flagged
      var N = cfg.oneN, links = L.layerGroup();
      N.links.forEach(function (l) {
        var p = N.points[l[0]], h = N.hubs[l[1]];
        L.polyline([[p[0], p[1]], [h[0], h[1]]], {color: "#6a1b9a", weight: 2, opacity: 0.8}).addTo(links);
      });
      N.points.forEach(function (p) {
        L.circleMarker([p[0], p[1]], {radius: p[3] ? 6 : 4, color: p[3] ? "#d32f2f" : "#6a1b9a", weight: p[3] ? 3 : 1,
          fillColor: "#ffffff", fillOpacity: 1}).bindPopup(p[2]).addTo(links);
      });
      N.hubs.forEach(function (h) {
        L.circleMarker([h[0], h[1]], {radius: 9, color: "#4a148c", weight: 2, fillColor: "#8e24aa", fillOpacity: 0.9})
          .bindPopup(h[2]).addTo(links);
      });
      overlay(N.label, links, cfg.labels.groupFacilities, false);
      if (cfg.views.childcare) { app.overlays[N.label].views = ["childcare"]; app.overlays[N.label].defaultOn = ["childcare"]; }
    }
    var panel = el("div", {id: "planner-panel"});
    var views = "";
    for (var v = 0; v < cfg.viewOrder.length; v++)
      views += "<button type='button' data-view='" + cfg.viewOrder[v] + "'>" + cfg.views[cfg.viewOrder[v]].label + "</button>";
    panel.innerHTML = "<div class='planner-search-box'><input id='planner-search' type='search' autocomplete='off' placeholder='" +
      cfg.labels.searchHint + "'><ul id='planner-search-results'></ul></div><div id='planner-views' role='tablist'>" + views +
      "</div><div id='planner-legend'></div><div id='planner-layers'></div>";
    document.body.appendChild(panel);
    var toggle = el("button", {id: "planner-panel-toggle", type: "button", title: cfg.labels.togglePanel}, "☰");
    document.body.appendChild(toggle);
    toggle.addEventListener("click", function () { document.body.classList.toggle("planner-panel-closed"); map.invalidateSize(); });
    var buttons = panel.querySelectorAll("#planner-views button");
    for (var k = 0; k < buttons.length; k++) buttons[k].addEventListener("click", function (e) { setView(e.currentTarget.getAttribute("data-view")); });
    L.DomEvent.disableClickPropagation(panel); L.DomEvent.disableScrollPropagation(panel);
    document.body.classList.add("planner-has-panel");
    if (window.innerWidth < 900) document.body.classList.add("planner-panel-closed");
    map.invalidateSize();
    if (cfg.bounds) map.fitBounds(cfg.bounds, {animate: false});  // framed again in the map's width beside the panel
    wireSearch();
    setView(cfg.viewOrder[0]);
    return app;
  }

  // hooks of the editor (planner serve, planner/serve/serve_app.js): the page's data, a facility layer's table,
  // and a redraw of everything after the data changed (compound bands, 街道 measures, hidden facilities, legend)
  app.config = function () { return cfg; };
  app.facilityTable = function (cat) { return facilities[cat] ? facilities[cat].t : null; };
  app.redraw = function () {
    if (compounds) restyleCompounds();
    if (zones) zones.eachLayer(function (l) { l.setStyle(zoneStyle(l.options.i)); });
    for (var cat in facilities) {
      var o = app.overlays[facilities[cat].label], l = o && (o.layer._inner || null);
      if (l && l.redraw) l.redraw();
    }
    if (app.view) refreshPanel();
  };
  app.init = init;
  app.setView = setView;
  app.search = function (text) { return search(text).map(function (h) { return {name: plain(h.t), kind: h.k}; }); };
  app.go = function (text) { var f = search(text); if (f.length) f[0].go(); return f.length > 0; };
  app.overlaysShown = function () { var out = {}; for (var n in app.overlays) out[n] = map.hasLayer(app.overlays[n].layer); return out; };
  app.setShown = setShown;
  // for tests and scripts: the points of each canvas layer (drawn now / in the layer), the compounds' table, the
  // compounds ringed for the facility clicked last, whether a site's catchment is drawn, a facility's click
  app.points = function () {
    var out = {};
    for (var n in app.overlays) {
      var l = app.overlays[n].layer;
      l = l._inner || l;
      if (l instanceof P.PointCanvas) out[n] = {shown: map.hasLayer(l), drawn: map.hasLayer(l) ? l.drawn || 0 : 0, total: l._rows ? l._rows.length : l._ll.length};
    }
    return out;
  };
  app.compoundTable = function () { return T; };
  app.ringed = function () { return highlight ? highlight._rows.map(function (i) { return T.name[i]; }) : []; };
  app.catchmentShown = function () { return !!catchments; };
  app.facilityAreaShown = function () { return !!facilityArea; };
  app.clickFacility = function (cat, j) { facilityClick(cat, j); };
  app.facilityNames = function (cat) { return facilities[cat].t.name.map(plain); };
  return app;
})();
