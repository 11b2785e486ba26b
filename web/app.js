// metasimd's web view: plain JavaScript, no build step, no dependency. Read-only: it only
// GETs /api/... and listens on the session's WebSocket.
"use strict";
const MetaSimView = (() => {
  const $ = (id) => document.getElementById(id);
  const fmt = (v, d = 3) => (typeof v === "number" ? Number(v.toPrecision(d)).toString() : String(v));

  // ---- the sessions list -------------------------------------------------------------
  function listPage() {
    const last = new Map(); // id -> [steps, time]
    async function refresh() {
      let data;
      try { data = await (await fetch("/api/sessions")).json(); } catch (e) { return; }
      $("server").textContent = `${data.server} · up ${fmt(data.uptime_seconds, 4)} s`;
      const body = document.querySelector("#sessions tbody");
      body.replaceChildren();
      const now = performance.now();
      for (const s of data.sessions) {
        const before = last.get(s.id);
        const rate = before ? (s.steps - before[0]) / ((now - before[1]) / 1000) : 0;
        last.set(s.id, [s.steps, now]);
        const task = (s.task_seed === undefined || s.task_seed === null ? "nominal" : `seed ${s.task_seed}`) + " " +
          Object.entries(s.params).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
        const policy = s.policy ?? "—";
        const adaptation = s.policy ? `${s.adapted_steps} steps · ${s.state}` : s.state;
        const tr = document.createElement("tr");
        tr.className = "session";
        tr.dataset.id = s.id;
        for (const text of [s.id, s.world, task, `${s.batch} × ${s.threads} threads`, fmt(rate, 4), policy, adaptation]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        }
        tr.addEventListener("click", () => { location.href = `session.html?id=${s.id}`; });
        body.appendChild(tr);
      }
      $("empty").hidden = data.sessions.length > 0;
    }
    refresh();
    setInterval(refresh, 1000);
  }

  // ---- the world, drawn from its scene and live poses ---------------------------------
  class WorldCanvas {
    constructor(canvas) {
      this.canvas = canvas;
      this.ctx = canvas.getContext("2d");
      this.scene = null;
      this.poses = null;
      this.box = null;
      this.frames = 0;
    }
    setScene(scene) {
      this.scene = scene;
      this.poses = scene.poses;
      this.box = scene.view.slice();
      // The bodies' reach, as `metasim render` frames them.
      let reach = 0.5;
      for (const s of scene.shapes) if (s.body !== null && s.body !== undefined) {
        for (const p of s.points) reach = Math.max(reach, Math.hypot(p[0], p[1]));
        if (s.radius) reach = Math.max(reach, s.radius);
      }
      this.reach = reach * 2.5;
      this.draw();
    }
    setPoses(flat) {
      const poses = [];
      for (let k = 0; k + 2 < flat.length; k += 3) poses.push([flat[k], flat[k + 1], flat[k + 2]]);
      this.poses = poses;
      // Grow the camera to keep the bodies in view (render frames the whole episode).
      for (const p of poses) {
        this.box[0] = Math.min(this.box[0], p[0] - this.reach); this.box[1] = Math.min(this.box[1], p[1] - this.reach);
        this.box[2] = Math.max(this.box[2], p[0] + this.reach); this.box[3] = Math.max(this.box[3], p[1] + this.reach);
      }
      this.frames += 1;
      this.canvas.dataset.frames = String(this.frames);
      this.draw();
    }
    draw() {
      const sc = this.scene; if (!sc) return;
      const ctx = this.ctx, c = this.canvas;
      const [x0, y0, x1, y1] = this.box;
      const scale = Math.min(c.width / (x1 - x0), c.height / (y1 - y0));
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = sc.background;
      ctx.fillRect(0, 0, c.width, c.height);
      ctx.setTransform(scale, 0, 0, -scale, -x0 * scale, y1 * scale);
      ctx.lineWidth = 1.5 / scale;
      ctx.lineJoin = "round";
      if (sc.track) {
        ctx.setLineDash([4 / scale, 4 / scale]);
        ctx.strokeStyle = "#bbb";
        this.path(sc.track, true); ctx.stroke();
        ctx.setLineDash([]);
      }
      for (const s of sc.shapes) if (s.body === null || s.body === undefined) this.shape(s, null);
      if (sc.goal) {
        ctx.beginPath(); ctx.arc(sc.goal[0], sc.goal[1], sc.goal[2], 0, 2 * Math.PI);
        ctx.fillStyle = "rgba(242,193,78,0.6)"; ctx.fill(); ctx.strokeStyle = "#c98f00"; ctx.stroke();
      }
      for (const s of sc.shapes) if (s.body !== null && s.body !== undefined) this.shape(s, this.poses[s.body]);
    }
    path(points, closed) {
      const ctx = this.ctx;
      ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
      if (closed) ctx.closePath();
    }
    shape(s, pose) {
      const ctx = this.ctx;
      ctx.save();
      if (pose) { ctx.translate(pose[0], pose[1]); ctx.rotate(pose[2]); }
      ctx.strokeStyle = s.stroke;
      if (s.kind === "circle") {
        const [cx, cy] = s.points[0];
        ctx.beginPath(); ctx.arc(cx, cy, s.radius, 0, 2 * Math.PI);
        if (s.fill !== "none") { ctx.fillStyle = s.fill; ctx.fill(); }
        ctx.stroke();
        ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(cx + s.radius, cy); ctx.stroke(); // a spoke shows rotation
      } else if (s.kind === "polygon") {
        this.path(s.points, true);
        if (s.fill !== "none") { ctx.fillStyle = s.fill; ctx.fill(); }
        ctx.stroke();
      } else {
        this.path(s.points, s.closed); ctx.stroke();
      }
      ctx.restore();
    }
  }

  // ---- return plots ---------------------------------------------------------------------
  // series: [{label, color, points: [[x, y], ...]}]
  function plot(canvas, series, xLabel) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    const m = { l: 56, r: 12, t: 12, b: 36 };
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    const all = series.flatMap((s) => s.points);
    canvas.dataset.points = String(all.length);
    if (!all.length) { ctx.fillStyle = "#888"; ctx.fillText("no returns yet", W / 2 - 30, H / 2); return; }
    let [xa, xb] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let [ya, yb] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
    if (xa === xb) { xa -= 1; xb += 1; }
    if (ya === yb) { ya -= 1; yb += 1; }
    const sx = (x) => m.l + (x - xa) / (xb - xa) * (W - m.l - m.r);
    const sy = (y) => H - m.b - (y - ya) / (yb - ya) * (H - m.t - m.b);
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(m.l, m.t); ctx.lineTo(m.l, H - m.b); ctx.lineTo(W - m.r, H - m.b); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = "11px monospace";
    ctx.fillText(fmt(yb, 4), 2, m.t + 8); ctx.fillText(fmt(ya, 4), 2, H - m.b);
    ctx.fillText(fmt(xa, 4), m.l, H - m.b + 14); ctx.fillText(fmt(xb, 4), W - m.r - 30, H - m.b + 14);
    ctx.fillText(xLabel, W / 2 - 30, H - 6);
    series.forEach((s, i) => {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 2;
      ctx.beginPath();
      s.points.forEach((p, k) => (k ? ctx.lineTo(sx(p[0]), sy(p[1])) : ctx.moveTo(sx(p[0]), sy(p[1]))));
      ctx.stroke();
      for (const p of s.points) { ctx.beginPath(); ctx.arc(sx(p[0]), sy(p[1]), 3, 0, 2 * Math.PI); ctx.fill(); }
      ctx.fillText(s.label, m.l + 8, m.t + 12 + 14 * i);
    });
  }

  const palette = ["#8066e6", "#4d4d80", "#d1495b", "#00798c", "#edae49", "#30638e"];

  // ---- one session ------------------------------------------------------------------------
  function sessionPage() {
    const id = new URLSearchParams(location.search).get("id");
    const view = new WorldCanvas($("world"));
    let sceneKey = null;
    async function loadScene(seed) {
      const r = await fetch(`/api/sessions/${id}/scene` + (seed === undefined ? "" : `?seed=${seed}`));
      if (!r.ok) { $("status").textContent = r.status === 404 ? "no such session (closed?)" : `scene: ${r.status}`; return; }
      view.setScene(await r.json());
    }
    function connect() {
      const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/sessions/${id}/live`);
      ws.onmessage = async (m) => {
        const f = JSON.parse(m.data);
        const key = `${f.task_seed}/${f.episode_seed}`;
        if (key !== sceneKey) { sceneKey = key; await loadScene(f.episode_seed); } // terrain follows the episode
        view.setPoses(f.poses);
        $("caption").textContent = `instance 0 · episode seed ${f.episode_seed} · step ${f.step} · return ${fmt(f.episode_return, 4)}` +
          (f.dropped ? ` · ${f.dropped} frames dropped` : "");
      };
      ws.onclose = () => { $("status").textContent = "live stream closed"; };
    }
    async function refresh() {
      const r = await fetch(`/api/sessions/${id}`);
      if (!r.ok) { $("status").textContent = r.status === 404 ? "no such session (closed?)" : `${r.status}`; return; }
      const d = await r.json(), s = d.summary;
      document.title = `metasimd — session ${s.id}`;
      $("title").textContent = `session ${s.id}: ${s.world} × ${s.batch}`;
      $("status").textContent = s.policy ? `policy ${s.policy} · ${s.adapted_steps} inner steps · ${s.state}` : s.state;
      if (d.adapt_points.length) {
        plot($("plot"), [{ label: "mean return of inner step k's episodes", color: palette[0], points: d.adapt_points.map((p) => [p.step, p.mean_return]) }], "inner step");
        $("plotCaption").textContent = `adaptation: ${d.adapt_points.length} of ${d.adapt_steps} inner steps`;
      } else if (d.episode_points.length) {
        plot($("plot"), [{ label: "episode return", color: palette[2], points: d.episode_points.map((p) => [p.index, p.return]) }], "episode");
        $("plotCaption").textContent = `${d.episode_points.length} episodes`;
      } else {
        plot($("plot"), [], "");
      }
    }
    loadScene().then(connect);
    refresh();
    setInterval(refresh, 500);
  }

  // ---- finished batches --------------------------------------------------------------------
  function batchesPage() {
    async function show(name) {
      const b = await (await fetch(`/api/batches/${encodeURIComponent(name)}`)).json();
      const adapted = b.units.filter((u) => u.adapt_returns && u.adapt_returns.length);
      if (adapted.length) {
        plot($("plot"), adapted.slice(0, 12).map((u, i) => ({ label: u.key ?? `unit ${u.unit}`, color: palette[i % palette.length],
          points: u.adapt_returns.map((v, k) => [k, v]) })), "inner step");
      } else {
        plot($("plot"), b.units.slice(0, 12).map((u, i) => ({ label: u.key ?? `unit ${u.unit}`, color: palette[i % palette.length],
          points: u.returns.map((v, k) => [k, v]) })), "episode");
      }
      $("plotCaption").textContent = `${name}: ${b.units.length} units`;
    }
    fetch("/api/batches").then((r) => r.json()).then((d) => {
      for (const name of d.batches) {
        const li = document.createElement("li"), a = document.createElement("a");
        a.href = "#"; a.textContent = name; a.onclick = (e) => { e.preventDefault(); show(name); };
        li.appendChild(a); $("batches").appendChild(li);
      }
      if (!d.batches.length) $("batches").textContent = "No batch directories (set http.batches).";
    });
  }

  return { listPage, sessionPage, batchesPage };
})();
