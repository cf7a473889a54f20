/* civicgrid big screen: one JSON bundle per area (insights:screen-data), fetched on load, every
   refreshSeconds and on every drill-down; ECharts for the charts, Leaflet for the map. The page
   never reloads, so a wall display can run unattended. window.cgScreen is for tests and the
   console. */
(function () {
  "use strict";
  var W = 1920, H = 1080;
  var configNode = document.getElementById("cg-screen-config");
  var stage = document.getElementById("cg-stage");
  if (!configNode || !stage || typeof echarts === "undefined" || typeof L === "undefined") { return; }
  var config = JSON.parse(configNode.textContent);
  var T = config.labels;
  var state = { division: config.division, kpi: config.kpi, trend: config.trend, params: config.params || {},
                data: null, loads: 0, seq: 0 };
  var palette = ["#4fc3f7", "#ffb74d", "#ef5350", "#81c784", "#ba68c8", "#4db6ac", "#f06292", "#aed581",
                 "#7986cb", "#ffd54f", "#90a4ae", "#a1887f"];

  // --- fitting the 1920×1080 stage into the window ----------------------------------------
  function fit() {
    var scale = Math.min(window.innerWidth / W, window.innerHeight / H);
    var x = (window.innerWidth - W * scale) / 2, y = (window.innerHeight - H * scale) / 2;
    stage.style.transform = "translate(" + x + "px," + y + "px) scale(" + scale + ")";
  }
  fit();
  window.addEventListener("resize", function () { fit(); resizeCharts(); });

  // --- helpers ------------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fmt(kind, value) {
    if (value === null || value === undefined) { return T.noFigure; }
    if (kind === "rate" || kind === "index") { return (value * 100).toFixed(1) + "%"; }
    if (kind === "hours") { return value.toFixed(1); }
    return Math.round(value).toLocaleString();
  }
  function delta(tile) {
    if (tile.value === null || tile.previous === null) { return null; }
    var diff = tile.value - tile.previous;
    if (Math.abs(diff) < 1e-9) { return { cls: "neutral", text: "→ ±0" }; }
    var up = diff > 0, good = up === (tile.better === "higher"), size = Math.abs(diff), text;
    if (tile.kind === "rate" || tile.kind === "index") { text = (size * 100).toFixed(1) + " " + T.pp; }
    else if (tile.kind === "hours") { text = size.toFixed(1); }
    else { text = Math.round(size).toLocaleString(); }
    return { cls: good ? "good" : "bad", text: (up ? "↑ " : "↓ ") + text };
  }
  // Red (bad) → amber → green (good), on t in 0..1.
  function colour(t) {
    if (t === null || t === undefined || isNaN(t)) { return "#37474f"; }
    t = Math.max(0, Math.min(1, t));
    var stops = [[229, 57, 53], [253, 216, 53], [67, 160, 71]];
    var i = t < 0.5 ? 0 : 1, f = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    var a = stops[i], b = stops[i + 1];
    var rgb = [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); });
    return "rgb(" + rgb.join(",") + ")";
  }
  function goodness(kpi, value, max) {
    if (value === null || value === undefined) { return null; }
    var t = (kpi.kind === "rate" || kpi.kind === "index") ? value : (max > 0 ? value / max : 0);
    return kpi.better === "higher" ? t : 1 - t;
  }
  function say(text, failed) {
    var node = $("cg-status");
    node.textContent = text;
    node.classList.toggle("failed", !!failed);
  }

  // --- charts -------------------------------------------------------------------------------
  var charts = {
    trend: echarts.init($("cg-chart-trend"), "dark", { renderer: "canvas" }),
    category: echarts.init($("cg-chart-category"), "dark", { renderer: "canvas" }),
    ranking: echarts.init($("cg-chart-ranking"), "dark", { renderer: "canvas" })
  };
  function resizeCharts() {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    if (map) { map.invalidateSize(); }
  }
  var axisText = { color: "#8fb4da", fontSize: 14 };

  function renderTrend(trend) {
    charts.trend.setOption({
      backgroundColor: "transparent",
      color: ["#4fc3f7", "#81c784", "#ef5350"],
      tooltip: { trigger: "axis" },
      legend: { top: 0, right: 10, textStyle: { color: "#bfe3ff", fontSize: 14 } },
      grid: { left: 50, right: 20, top: 34, bottom: 28 },
      xAxis: { type: "category", data: trend.labels, boundaryGap: false, axisLabel: axisText },
      yAxis: { type: "value", minInterval: 1, axisLabel: axisText, splitLine: { lineStyle: { color: "#17406f" } } },
      series: trend.series.map(function (s, i) {
        return { name: s.label, type: "line", smooth: true, symbolSize: 5, data: s.data,
                 areaStyle: i === 0 ? { opacity: 0.18 } : undefined };
      })
    }, true);
  }

  function renderCategories(rows) {
    charts.category.setOption({
      backgroundColor: "transparent",
      color: palette,
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      legend: { type: "scroll", orient: "vertical", right: 0, top: "middle", textStyle: { color: "#bfe3ff", fontSize: 14 } },
      series: [{
        type: "pie", radius: ["38%", "70%"], center: ["34%", "52%"],
        label: { show: false }, labelLine: { show: false },
        itemStyle: { borderColor: "#071630", borderWidth: 2 },
        data: rows.map(function (r) { return { name: r.label, value: r.value }; })
      }],
      graphic: rows.length ? [] : [{ type: "text", left: "center", top: "middle",
                                      style: { text: T.noFigure, fill: "#7f97b2", fontSize: 28 } }]
    }, true);
  }

  function renderRanking(ranking) {
    var rows = ranking.rows;
    var max = Math.max.apply(null, rows.map(function (r) { return r.value || 0; }).concat([0]));
    var isRate = ranking.kind === "rate" || ranking.kind === "index";
    // ECharts draws category axes bottom-up: reverse so the best stands on top.
    var shown = rows.slice().reverse();
    charts.ranking.setOption({
      backgroundColor: "transparent",
      tooltip: { trigger: "item", formatter: function (p) {
        var row = shown[p.dataIndex];
        return esc(row.name) + "<br>" + esc(ranking.label) + ": " + fmt(ranking.kind, row.value) +
          "<br>" + esc(T.reported) + ": " + row.reported;
      } },
      grid: { left: 130, right: 70, top: 6, bottom: 6 },
      xAxis: { type: "value", max: isRate ? 1 : null, show: false },
      yAxis: { type: "category", data: shown.map(function (r) { return r.rank + "  " + r.name; }),
               axisLabel: { color: "#dfe9f5", fontSize: 14, width: 120, overflow: "truncate" },
               axisLine: { show: false }, axisTick: { show: false } },
      series: [{
        type: "bar", barMaxWidth: 22, cursor: "pointer",
        data: shown.map(function (r) {
          return { value: r.value === null ? 0 : r.value,
                   itemStyle: { color: colour(goodness(ranking, r.value, max)), borderRadius: [0, 3, 3, 0] } };
        }),
        label: { show: true, position: "right", color: "#fff", fontSize: 14,
                 formatter: function (p) { return fmt(ranking.kind, shown[p.dataIndex].value); } },
        showBackground: true, backgroundStyle: { color: "rgba(255,255,255,0.04)" }
      }],
      graphic: rows.length ? [] : [{ type: "text", left: "center", top: "middle",
                                      style: { text: T.noChildren, fill: "#7f97b2", fontSize: 18 } }]
    }, true);
    // The bars' row height follows the count; dataIndex maps back to rows (reversed above).
    charts.ranking.off("click");
    charts.ranking.on("click", function (params) {
      var row = shown[params.dataIndex];
      if (row) { drill(row.code); }
    });
    $("cg-ranking-kpi").textContent = ranking.label;
  }

  // --- the map ------------------------------------------------------------------------------
  var map = L.map($("cg-screen-map"), { preferCanvas: true, zoomSnap: 0.25, zoomControl: false,
                                        attributionControl: true });
  $("cg-screen-map").cgMap = map;
  map.attributionControl.setPrefix(false);
  if (config.tile && config.tile.url) {
    L.tileLayer(config.tile.url, { attribution: config.tile.attribution || "", maxZoom: 19,
                                   className: "cg-s-tiles-dim" }).addTo(map);
  } else {
    map.attributionControl.addAttribution(esc(T.noBasemap));
  }
  L.control.zoom({ position: "topright" }).addTo(map);
  map.setView([37.38, 117.97], 9);
  var areaLayer = null;
  var caseLayer = L.layerGroup().addTo(map);
  var lastBbox = null;

  function renderMap(collection, kpi) {
    if (areaLayer) { map.removeLayer(areaLayer); }
    var values = collection.features.map(function (f) { return f.properties.value || 0; });
    var max = Math.max.apply(null, values.concat([0]));
    areaLayer = L.geoJSON(collection, {
      style: function (feature) {
        var p = feature.properties;
        return { color: "#9ecbff", weight: 1.2, fillColor: colour(goodness(kpi, p.value, max)),
                 fillOpacity: 0.55 };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindTooltip("<strong>" + esc(p.name) + "</strong><br>" + esc(kpi.label) + ": " +
          fmt(kpi.kind, p.value) + "<br>" + esc(T.reported) + ": " + p.reported, { sticky: true });
        layer.on("click", function () { if (p.drill) { drill(p.code); } });
        layer.on("mouseover", function () { layer.setStyle({ weight: 3, color: "#fff" }); });
        layer.on("mouseout", function () { areaLayer.resetStyle(layer); });
      }
    }).addTo(map);
    caseLayer.eachLayer(function (l) { l.bringToFront(); });
    var bbox = collection.bbox;
    var key = bbox ? bbox.join(",") : "";
    if (bbox && key !== lastBbox) {
      map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], { padding: [16, 16] });
    }
    lastBbox = key;
    $("cg-screen-map").setAttribute("data-features", String(collection.features.length));
    // The legend runs from the bad end (red) to the good end (green).
    var isRate = kpi.kind === "rate" || kpi.kind === "index";
    var top = isRate ? 1 : max;
    var low = fmt(kpi.kind, kpi.better === "higher" ? 0 : top);
    var high = fmt(kpi.kind, kpi.better === "higher" ? top : 0);
    $("cg-map-legend").innerHTML = "<div>" + esc(kpi.label) + "</div>" +
      '<div class="bar" style="background:linear-gradient(90deg,' + colour(0) + "," + colour(0.5) + "," +
      colour(1) + ')"></div><div class="ends"><span>' + esc(low) + "</span><span>" + esc(high) +
      "</span></div><div><i style=\"background:#ff5252\"></i>" + esc(T.overdue) +
      "<i style=\"background:#ffca28\"></i>" + esc(T.openCases) + "</div>";
  }

  function caseLink(c) {
    return config.caseUrl.replace("/0/", "/" + c.id + "/");
  }

  function renderCases(cases) {
    caseLayer.clearLayers();
    cases.live.forEach(function (c) {
      if (c.lat === null || c.lng === null) { return; }
      L.circleMarker([c.lat, c.lng], {
        radius: c.overdue ? 7 : 5, weight: 1, color: "#071630",
        fillColor: c.overdue ? "#ff5252" : "#ffca28", fillOpacity: 0.95
      }).bindPopup("<strong>" + esc(c.category) + "</strong><br>" + esc(c.title) + "<br>" + esc(c.place) +
        " · " + esc(c.statusLabel) + "<br><a target=\"_blank\" rel=\"noopener\" href=\"" + caseLink(c) + "\">" +
        esc(c.number) + " ›</a>").addTo(caseLayer);
    });
    $("cg-screen-map").setAttribute("data-cases", String(cases.live.length));
    // The scrolling list: overdue first, then the newest.
    var seen = {};
    var items = [];
    cases.overdue.forEach(function (c) { seen[c.id] = true; items.push({ c: c, tag: "overdue" }); });
    cases.new.forEach(function (c) { if (!seen[c.id]) { items.push({ c: c, tag: c.overdue ? "overdue" : "new" }); } });
    var html = items.map(function (item) {
      var c = item.c;
      var when = item.tag === "overdue" && c.due ? T.due + " " + c.due.slice(5, 16).replace("T", " ")
                                                 : c.reportedAt.slice(5, 16).replace("T", " ");
      return '<div class="cg-s-case" data-case="' + c.id + '"><span class="cg-s-tag ' + item.tag + '">' +
        esc(item.tag === "overdue" ? T.overdue : T["new"]) + '</span><span class="what"><a target="_blank" rel="noopener" href="' +
        caseLink(c) + '">' + esc(c.number) + "</a> " + esc(c.category) + " · " + esc(c.place) +
        '</span><span class="when">' + esc(when) + "</span></div>";
    }).join("");
    var track = $("cg-ticker-track");
    track.classList.remove("scrolling");
    track.style.animationDuration = "";
    if (!items.length) {
      track.innerHTML = '<div class="cg-s-empty">' + esc(T.noCases) + "</div>";
      return;
    }
    track.innerHTML = html;
    // Scroll only when the list is longer than its panel; twice the content loops seamlessly.
    if (track.scrollHeight > $("cg-ticker").clientHeight) {
      track.innerHTML = html + html;
      track.style.animationDuration = Math.max(20, items.length * 3) + "s";
      track.classList.add("scrolling");
    }
    track.setAttribute("data-items", String(items.length));
  }

  // --- header and tiles ---------------------------------------------------------------------
  function renderHeader(data) {
    $("cg-area-name").textContent = data.area.name;
    $("cg-area-level").textContent = data.area.levelLabel;
    stage.setAttribute("data-area", data.area.code);
    document.title = data.area.name + " · " + document.title.split(" · ").slice(-1)[0];
    var crumbs = $("cg-crumbs");
    crumbs.innerHTML = data.crumbs.map(function (c, i) {
      return i === data.crumbs.length - 1 ? "<span>" + esc(c.name) + "</span>"
        : '<a data-code="' + esc(c.code) + '">' + esc(c.name) + "</a> › ";
    }).join("");
    var up = $("cg-up");
    up.disabled = !data.up;
    $("cg-up-name").textContent = data.up ? data.up.name : "";
    $("cg-period").textContent = data.period.label;
    $("cg-compare").textContent = T.previous + ": " + data.period.previous;
    var dash = $("cg-dashboard-link");
    dash.href = config.dashboardUrl + "?division=" + encodeURIComponent(data.area.code);
  }

  function renderTiles(tiles) {
    $("cg-tiles").innerHTML = tiles.map(function (tile) {
      var d = delta(tile);
      return '<div class="cg-s-tile" data-kpi="' + esc(tile.key) + '"><div class="cg-s-tile-label">' + esc(tile.label) +
        '</div><div class="cg-s-tile-value">' + esc(fmt(tile.kind, tile.value)) +
        (tile.kind === "hours" ? "<small>" + esc(T.hours) + "</small>" : "") + "</div>" +
        '<div class="cg-s-delta ' + (d ? d.cls : "neutral") + '">' + (d ? esc(d.text) : "&nbsp;") +
        ' <span class="cg-s-muted" title="' + esc(T.previous) + '">(' + esc(fmt(tile.kind, tile.previous)) + ")</span></div></div>";
    }).join("");
  }

  // --- loading ------------------------------------------------------------------------------
  function dataUrl() {
    var params = new URLSearchParams(state.params);
    params.set("division", state.division);
    params.set("kpi", state.kpi);
    params.set("trend", state.trend);
    return config.dataUrl + "?" + params.toString();
  }

  function render(data) {
    state.data = data;
    renderHeader(data);
    renderTiles(data.tiles);
    renderTrend(data.trend);
    renderCategories(data.categories);
    renderRanking(data.ranking);
    renderMap(data.map, data.kpi);
    renderCases(data.cases);
    document.querySelectorAll("[data-trend]").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-trend") === state.trend);
    });
    state.loads += 1;
    stage.setAttribute("data-loads", String(state.loads));
    say(T.updated + " " + data.asOf.slice(11, 16) + " · " + (data.source === "rollup" ? T.rollup : T.live));
  }

  function load() {
    var seq = ++state.seq;
    return fetch(dataUrl(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) { if (seq === state.seq) { render(data); } })
      .catch(function () { if (seq === state.seq) { say(T.failed, true); } });
  }

  function syncUrl(push) {
    var params = new URLSearchParams(window.location.search);
    params.set("division", state.division);
    params.set("kpi", state.kpi);
    params.set("trend", state.trend);
    var url = window.location.pathname + "?" + params.toString();
    if (push) { window.history.pushState({ division: state.division }, "", url); }
    else { window.history.replaceState({ division: state.division }, "", url); }
  }

  function drill(code) {
    if (!code || code === state.division) { return; }
    state.division = code;
    lastBbox = null;
    syncUrl(true);
    say(T.loading);
    load();
  }

  $("cg-up").addEventListener("click", function () {
    if (state.data && state.data.up) { drill(state.data.up.code); }
  });
  $("cg-crumbs").addEventListener("click", function (event) {
    var link = event.target.closest("a[data-code]");
    if (link) { drill(link.getAttribute("data-code")); }
  });
  $("cg-kpi").addEventListener("change", function (event) {
    state.kpi = event.target.value;
    syncUrl(false);
    load();
  });
  document.querySelectorAll("[data-trend]").forEach(function (button) {
    button.addEventListener("click", function () {
      state.trend = button.getAttribute("data-trend");
      syncUrl(false);
      load();
    });
  });
  window.addEventListener("popstate", function (event) {
    if (event.state && event.state.division) {
      state.division = event.state.division;
      lastBbox = null;
      load();
    }
  });

  function tick() {
    var now = new Date();
    function two(n) { return (n < 10 ? "0" : "") + n; }
    $("cg-clock").textContent = now.getFullYear() + "-" + two(now.getMonth() + 1) + "-" + two(now.getDate()) +
      " " + two(now.getHours()) + ":" + two(now.getMinutes()) + ":" + two(now.getSeconds());
  }
  tick();
  setInterval(tick, 1000);
  setInterval(load, (config.refreshSeconds || 60) * 1000);
  window.history.replaceState({ division: state.division }, "", window.location.href);
  say(T.loading);
  load();
  window.cgScreen = { state: state, charts: charts, map: map, load: load, drill: drill };
})();
