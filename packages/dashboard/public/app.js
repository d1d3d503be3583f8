// Pulse dashboard: the page's behaviour (docs/dashboard.md). No framework: the query API for history
// and lookups, GET /api/v1/stream (read with fetch, so that the token travels in a header) for live figures.
'use strict';
(() => {
  const MINUTE = 60_000;
  const RANGES = { '15m': 15 * MINUTE, '1h': 60 * MINUTE, '24h': 1440 * MINUTE };
  /** The top-products window that best matches each range (the API merges at most an hour). */
  const TOP_WINDOW = { '15m': '15m', '1h': '1h', '24h': '1h' };
  const TOKEN_KEY = 'pulse.apiToken';
  const COLORS = { in: '#4cc2ff', out: '#56d364', p50: '#56d364', p95: '#e3b341', p99: '#ff7b72', revenue: '#4cc2ff', orders: '#e3b341', users: '#a371f7', mean: '#4cc2ff', band: '#8b97a6', score: '#ff7b72', activity: '#4cc2ff' };
  const SECONDS_KEPT = 900;
  const MINUTES_KEPT = 1440;

  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => [...document.querySelectorAll(sel)];
  const state = { page: 'live', range: '15m', topMetric: 'views', sensor: null, alertsRunning: null, lastUpdate: null };

  // ---------- formatting ----------
  const int = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
  const dec = (d) => new Intl.NumberFormat('en', { minimumFractionDigits: d, maximumFractionDigits: d });
  const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const dateTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  /** The text of a data-metric element: the plain number (machine-readable), or "–" without one. */
  const setMetric = (name, value, digits = 0) => {
    const el = document.querySelector(`[data-metric="${name}"]`);
    if (el === null) return;
    el.textContent = value === null || value === undefined || Number.isNaN(value) ? '–' : digits > 0 ? value.toFixed(digits) : String(Math.round(value));
  };
  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };
  const fill = (tbody, rows, empty, columns) => {
    tbody.replaceChildren(
      ...(rows.length === 0 ? [el('tr', {}, el('td', { colspan: String(columns), class: 'note', text: empty }))] : rows),
    );
  };
  const td = (text, cls) => el('td', cls ? { class: cls, text: String(text) } : { text: String(text) });

  // ---------- access ----------
  let token = sessionStorage.getItem(TOKEN_KEY);
  let askingForToken = null;

  /** Resolves when the user has given a token the server accepts. */
  function needToken() {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    askingForToken ??= new Promise((resolve) => {
      const dialog = $('#login');
      const input = $('#token');
      const error = $('#login-error');
      const submit = async (ev) => {
        ev.preventDefault();
        const candidate = input.value.trim();
        if (candidate === '') return;
        let status;
        try {
          status = (await fetch('/api/v1/metrics/overview', { headers: { authorization: `Bearer ${candidate}` } })).status;
        } catch {
          status = 0;
        }
        if (status === 401 || status === 0) {
          error.textContent = status === 401 ? 'That token was refused.' : 'The server did not answer; try again.';
          error.hidden = false;
          input.select();
          return;
        }
        token = candidate;
        sessionStorage.setItem(TOKEN_KEY, candidate);
        $('#login-form').removeEventListener('submit', submit);
        error.hidden = true;
        dialog.close();
        askingForToken = null;
        resolve();
      };
      $('#login-form').addEventListener('submit', submit);
      dialog.addEventListener('cancel', (ev) => ev.preventDefault());
      dialog.showModal();
      input.focus();
    });
    return askingForToken;
  }

  const authHeaders = () => (token ? { authorization: `Bearer ${token}` } : {});

  /** GET of the query API, as JSON; a 401 asks for a token and retries; null for 404. */
  async function api(path) {
    for (;;) {
      const res = await fetch(path, { headers: authHeaders() });
      if (res.status === 401) {
        await needToken();
        continue;
      }
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      return res.json();
    }
  }

  // ---------- charts (uPlot on <canvas>) ----------
  const charts = {};
  const axis = { stroke: '#8b97a6', grid: { stroke: '#262e39', width: 1 }, ticks: { stroke: '#262e39', width: 1 } };
  function chart(id, series, opts = {}) {
    const box = document.getElementById(id);
    const width = Math.max(280, box.clientWidth || 600);
    const height = opts.height ?? (box.classList.contains('short') ? 150 : 220);
    const u = new uPlot(
      {
        width,
        height,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true }, ...(opts.scales ?? {}) },
        axes: opts.axes ?? [{ ...axis }, { ...axis, size: 60 }],
        series: [{}, ...series.map((s) => ({ width: 2, spanGaps: false, points: { show: false }, ...s }))],
      },
      [[], ...series.map(() => [])],
      box,
    );
    charts[id] = u;
    return u;
  }
  new ResizeObserver(() => {
    for (const [id, u] of Object.entries(charts)) {
      const box = document.getElementById(id);
      if (box.clientWidth > 0 && Math.abs(box.clientWidth - u.width) > 4) u.setSize({ width: box.clientWidth, height: u.height });
    }
  }).observe(document.querySelector('main'));
  const secs = (ms) => ms / 1000;
  /** Draws `data` over the selected range, whatever part of it has data. */
  function plot(id, data, to = Date.now()) {
    const u = charts[id];
    u.setData(data, false);
    u.setScale('x', { min: secs(to - RANGES[state.range]), max: secs(to) });
  }
  /** Columns of points, with a break (nulls) where no point came for longer than `gapMs`. */
  function columns(points, n, gapMs) {
    const cols = Array.from({ length: n }, () => []);
    let prev = null;
    for (const p of points) {
      if (prev !== null && p[0] - prev > gapMs) {
        cols[0].push(secs(prev + 1));
        for (let i = 1; i < n; i++) cols[i].push(null);
      }
      cols[0].push(secs(p[0]));
      for (let i = 1; i < n; i++) cols[i].push(p[i]);
      prev = p[0];
    }
    return cols;
  }

  // ---------- live: the stream ----------
  /** Chart points from the stream: [t, in, out, p50, p95, p99, lag, deadLetters/min]. */
  const live = { seconds: [], minutes: [] };

  function foldMinute(p) {
    const minute = p[0] - (p[0] % MINUTE);
    const last = live.minutes.at(-1);
    if (!last || last[0] !== minute) {
      live.minutes.push([minute, ...p.slice(1)]);
      if (live.minutes.length > MINUTES_KEPT) live.minutes.shift();
    } else {
      // As the server folds them: rates averaged over the minute, latency and lag its latest.
      last.n = (last.n ?? 1) + 1;
      for (const i of [1, 2, 7]) last[i] = last[i] + (p[i] - last[i]) / last.n;
      for (const i of [3, 4, 5, 6]) last[i] = p[i];
    }
  }

  function drawLive() {
    if (state.page !== 'live') return;
    const fine = state.range === '15m';
    const cols = columns(fine ? live.seconds : live.minutes, 8, fine ? 5000 : 3 * MINUTE);
    plot('chart-throughput', [cols[0], cols[1], cols[2]]);
    plot('chart-latency', [cols[0], cols[3], cols[4], cols[5]]);
  }

  function onUpdate(u) {
    const first = state.lastUpdate === null;
    state.lastUpdate = u;
    if (state.page === 'alerts' && (first || state.alertsRunning !== (u.alerts !== null))) void refresh();
    setMetric('events-in-per-second', u.eventsInPerSec);
    setMetric('events-out-per-second', u.eventsOutPerSec);
    setMetric('latency-p95-ms', u.latencyMs.p95);
    $('#latency-sub').textContent = u.latencyMs.p50 === null ? 'no latency data yet' : `p50 ${int.format(u.latencyMs.p50)} · p99 ${int.format(u.latencyMs.p99)} ms`;
    setMetric('consumer-lag', u.consumerLag);
    setMetric('dead-letters-per-minute', u.deadLettersPerMin);
    if (u.alerts === null) {
      setMetric('active-alerts', 0);
      $('#alerts-sub').textContent = 'alerting is not running';
    } else {
      setMetric('active-alerts', u.alerts.firing);
      $('#alerts-sub').textContent = `${u.alerts.pending} pending`;
    }
    $('[data-metric="active-alerts"]').parentElement.classList.toggle('bad', u.alerts !== null && u.alerts.firing > 0);
    if (u.revenue !== null) {
      setMetric('revenue-per-minute', u.revenue.perMinute, 2);
      setMetric('orders-per-minute', u.revenue.orders);
      $('#currency').textContent = `${u.revenue.currency}, last 60 s`;
    }
    if (u.activeUsers !== null) setMetric('active-users', u.activeUsers);

    fill($('#topics tbody'), [...u.topics].sort((a, b) => b.eventsPerSec - a.eventsPerSec).map((t) => el('tr', {}, td(t.topic), td(int.format(t.eventsPerSec), 'num'))), 'no Kafka figures yet', 2);
    fill($('#lag tbody'), u.lagByGroup.map((g) => el('tr', {}, td(g.group), td(int.format(g.lag), 'num'))), 'no consumer groups yet', 2);
    const err = $('#kafka-error');
    err.hidden = u.kafkaError === null;
    err.textContent = u.kafkaError === null ? '' : `Kafka: ${u.kafkaError}`;

    const p = [u.t, u.eventsInPerSec, u.eventsOutPerSec, u.latencyMs.p50, u.latencyMs.p95, u.latencyMs.p99, u.consumerLag, u.deadLettersPerMin];
    live.seconds.push(p);
    if (live.seconds.length > SECONDS_KEPT) live.seconds.shift();
    foldMinute(p);
    drawLive();
  }

  function onHistory(h) {
    live.seconds = h.seconds;
    live.minutes = h.minutes;
    drawLive();
  }

  const setConn = (s, text) => {
    const c = $('#conn');
    c.dataset.state = s;
    c.textContent = text;
  };

  /** Reads the stream for ever: reconnects after a drop or a restart of the server, resuming with Last-Event-ID. */
  async function stream() {
    let lastId = null;
    let backoff = 500;
    for (;;) {
      const abort = new AbortController();
      let watchdog = null;
      // Heartbeats come every 15 s; silence for longer means a dead connection.
      const alive = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => abort.abort(), 40_000);
      };
      try {
        const headers = { ...authHeaders(), accept: 'text/event-stream' };
        if (lastId !== null) headers['last-event-id'] = lastId;
        const res = await fetch('/api/v1/stream', { headers, cache: 'no-store', signal: abort.signal });
        if (res.status === 401) {
          await needToken();
          continue;
        }
        if (!res.ok || res.body === null) throw new Error(`stream: HTTP ${res.status}`);
        setConn('live', 'live');
        backoff = 500;
        alive();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          alive();
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            let id = null;
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
              else if (line.startsWith('id:')) id = line.slice(3).trim();
            }
            if (id !== null) lastId = id;
            if (event === 'update') onUpdate(JSON.parse(data));
            else if (event === 'history') onHistory(JSON.parse(data));
          }
        }
      } catch {
        // A dropped connection or a server that is not up: retried below.
      } finally {
        clearTimeout(watchdog);
      }
      setConn('down', 'reconnecting');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  // ---------- business ----------
  async function loadBusiness() {
    const to = Date.now();
    const from = to - RANGES[state.range];
    const [revenue, users, funnel, top] = await Promise.all([
      api(`/api/v1/revenue?bucket=1m&from=${from}&to=${to + MINUTE}`),
      api(`/api/v1/users/active?granularity=1m&from=${from}&to=${to + MINUTE}`),
      api(`/api/v1/funnel?from=${from}&to=${to + MINUTE}`),
      api(`/api/v1/products/top?metric=${state.topMetric}&window=${TOP_WINDOW[state.range]}&k=10`),
    ]);
    // Minutes summed over currencies for the chart (one shop, one currency in practice).
    const byMinute = new Map();
    for (const b of revenue.buckets) {
      const m = byMinute.get(b.start) ?? { revenue: 0, orders: 0 };
      m.revenue += b.revenue;
      m.orders += b.orders;
      byMinute.set(b.start, m);
    }
    const minutes = [...byMinute.keys()].sort((a, b) => a - b);
    plot('chart-revenue', [minutes.map(secs), minutes.map((m) => byMinute.get(m).revenue), minutes.map((m) => byMinute.get(m).orders)], to);
    plot('chart-users', [users.windows.map((w) => secs(w.windowStart)), users.windows.map((w) => w.users)], to);
    const lastUsers = users.windows.at(-1);
    if (lastUsers && state.lastUpdate?.activeUsers == null) setMetric('active-users', lastUsers.users);

    // The funnel of the latest window with views: distinct users per stage (events would count a user's repeats).
    const w = [...funnel.windows].reverse().find((x) => x.views > 0);
    const stages = w ? [['Viewed', w.viewers], ['Carted', w.carters], ['Bought', w.buyers]] : [];
    const max = Math.max(1, ...stages.map((s) => s[1]));
    $('#funnel').replaceChildren(
      ...(stages.length === 0
        ? [el('p', { class: 'note', text: 'no funnel data in this range yet' })]
        : stages.map(([name, n], i) => {
            const bar = el('span');
            bar.style.width = `${(100 * n) / max}%`;
            const rate = i === 0 ? `${int.format(w.views)} views` : `${n > 0 && stages[i - 1][1] > 0 ? dec(1).format((100 * n) / stages[i - 1][1]) : '0.0'}% of previous`;
            return el('div', { class: 'stage' }, el('span', { text: name }), el('div', { class: 'bar' }, bar), el('span', { class: 'n' }, el('span', { text: int.format(n) }), el('br'), el('span', { class: 'rate', text: rate })));
          })),
      ...(w ? [el('p', { class: 'note', text: `window from ${time.format(w.windowStart)}; ${funnel.windows.length} windows in range, ${int.format(funnel.total.purchases)} purchases` })] : []),
    );
    setMetric('conversion-percent', w && w.viewers > 0 ? (100 * w.buyers) / w.viewers : null, 1);

    $('#top-window').textContent = top.windowStart === null ? '' : `${time.format(top.windowStart)}–${time.format(top.windowEnd)}, ${top.exactLeading} exact`;
    fill(
      $('#top tbody'),
      top.items.map((it, i) => el('tr', {}, td(i + 1), td(it.productId), td(int.format(it.count), 'num'), td(it.exact ? 'exact' : `±${int.format(it.error)}`))),
      'no products in the store yet',
      4,
    );
    const first = top.items[0];
    if (first && $('#product-id').value === '') $('#product-id').placeholder = first.productId;
  }

  // ---------- sensors ----------
  async function loadSensors() {
    const to = Date.now();
    const from = to - RANGES[state.range];
    const list = await api(`/api/v1/sensors?limit=50&from=${from}&to=${to + MINUTE}`);
    const score = (s) => (s === null ? '–' : dec(2).format(s));
    const scoreClass = (s) => (s === null ? 'num' : s >= 4 ? 'num score-high' : s >= 3 ? 'num score-mid' : 'num');
    fill(
      $('#sensors tbody'),
      list.sensors.map((s) => {
        const row = el(
          'tr',
          { 'data-sensor': s.sensorId, onclick: () => selectSensor(s.sensorId) },
          td(s.sensorId),
          td(`${s.metric} (${s.unit})`),
          td(dec(2).format(s.mean), 'num'),
          td(dec(2).format(s.min), 'num'),
          td(dec(2).format(s.max), 'num'),
          td(int.format(s.count), 'num'),
          td(score(s.anomalyScore), scoreClass(s.anomalyScore)),
          td(score(s.worstScore), scoreClass(s.worstScore)),
        );
        if (s.sensorId === state.sensor) row.classList.add('on');
        return row;
      }),
      'no sensor statistics in this range yet',
      8,
    );
    if (state.sensor === null && list.sensors.length > 0) state.sensor = list.sensors[0].sensorId;
    if (state.sensor !== null) await loadSensor();
  }

  function selectSensor(id) {
    state.sensor = id;
    for (const r of $$('#sensors tbody tr')) r.classList.toggle('on', r.dataset.sensor === id);
    void loadSensor().catch(report);
  }

  async function loadSensor() {
    const to = Date.now();
    const s = await api(`/api/v1/sensors/${encodeURIComponent(state.sensor)}/stats?from=${to - RANGES[state.range]}&to=${to + MINUTE}`);
    // One metric per chart: the first the sensor reports.
    const metric = s.windows[0]?.metric;
    const w = s.windows.filter((x) => x.metric === metric);
    $('#sensor-name').textContent = metric ? `${s.sensorId} · ${metric} (${w[0].unit})` : s.sensorId;
    const t = w.map((x) => secs(x.windowStart));
    plot('chart-sensor', [t, w.map((x) => x.mean), w.map((x) => x.min), w.map((x) => x.max), w.map((x) => x.ewma)], to);
    plot('chart-anomaly', [t, w.map((x) => x.anomalyScore)], to);
  }

  // ---------- users and recommendations ----------
  async function lookupUser(userId) {
    const to = Date.now();
    const id = encodeURIComponent(userId);
    const [activity, recs] = await Promise.all([api(`/api/v1/users/${id}/activity?from=${to - RANGES[state.range]}&to=${to + MINUTE}`), api(`/api/v1/recommendations/${id}?k=10`)]);
    $('#user-summary').textContent =
      activity.windows.length === 0
        ? `No activity for ${userId} in this range.`
        : `${userId}: ${int.format(activity.total)} events in ${activity.windows.length} five-minute windows; latest window ${int.format(activity.windows.at(-1).count)}.`;
    $('#user-summary').dataset.total = String(activity.total);
    plot('chart-activity', [activity.windows.map((w) => secs(w.windowStart)), activity.windows.map((w) => w.count)], to);
    renderItems($('#recs'), recs.items, recs.fallback ? 'popular now (no history for this user yet)' : null);
  }

  function renderItems(list, items, caption, self = null) {
    list.replaceChildren(
      ...(items.length === 0 ? [el('li', { class: 'note', text: 'nothing to recommend yet' })] : []),
      ...items.map((it) =>
        el(
          'li',
          {},
          el('button', { type: 'button', class: 'link', text: it.productId, onclick: () => similar(it.productId) }),
          el('span', { class: 'note', text: `  score ${dec(3).format(it.score)}` }),
          el('span', { class: 'because', text: it.because && it.because !== self ? `because of ${it.because}` : (caption ?? '') }),
        ),
      ),
    );
  }

  async function similar(productId) {
    $('#product-id').value = productId;
    const r = await api(`/api/v1/products/${encodeURIComponent(productId)}/similar?k=10`);
    renderItems($('#similar'), r.items, null, productId);
  }

  // ---------- alerts ----------
  const labelText = (labels) => Object.entries(labels ?? {}).filter(([k]) => k !== 'alertname' && k !== 'severity').map(([k, v]) => `${k}=${v}`).join(' ');
  const alertList = (body) => (Array.isArray(body) ? body : Array.isArray(body?.alerts) ? body.alerts : Array.isArray(body?.data?.alerts) ? body.data.alerts : []);
  const matcherText = (m) => `${m.name}${m.isRegex ? (m.isEqual === false ? '!~' : '=~') : m.isEqual === false ? '!=' : '='}"${m.value}"`;
  const stateOf = (a) => String(a.state ?? a.status?.state ?? a.status ?? 'firing').toLowerCase();
  async function loadAlerts() {
    // The stream says whether GET /api/v1/alerts answers (alerts: null when it does not): asking it here
    // too would log a failed load in the console of every page on a server without alerting.
    const update = state.lastUpdate;
    if (update === null) return;
    const running = update.alerts !== null;
    const [active, history, silenced] = running ? await Promise.all([api('/api/v1/alerts'), api('/api/v1/alerts/history?limit=50'), api('/api/v1/silences')]) : [null, null, null];
    state.alertsRunning = running;
    $('#alerts-status').textContent = active === null ? 'Alerting is not running on this server, so there are no alerts to show. Rules are evaluated by pulse alerts (pulse up starts it).' : '';
    const rows = alertList(active).map((a) => {
      const s = stateOf(a);
      const sev = a.labels?.severity ?? '';
      return el('tr', {}, td(a.labels?.alertname ?? a.name ?? '–'), el('td', {}, el('span', { class: `pill ${s}`, text: s })), el('td', {}, el('span', { class: `pill ${sev}`, text: sev || '–' })), td(labelText(a.labels)), td(a.startsAt ? dateTime.format(new Date(a.startsAt)) : '–'));
    });
    fill($('#alerts tbody'), rows, active === null ? '–' : 'no alert is firing or pending', 5);
    // Newest first, as the API answers.
    const past = history?.transitions ?? [];
    fill(
      $('#alerts-history tbody'),
      past.map((a) => {
        const s = stateOf(a);
        const at = a.at ?? a.endsAt ?? a.startsAt;
        return el('tr', {}, td(a.labels?.alertname ?? a.name ?? '–'), el('td', {}, el('span', { class: `pill ${s}`, text: s })), td(labelText(a.labels)), td(at ? dateTime.format(new Date(at)) : '–'));
      }),
      history === null ? '–' : 'no transitions yet',
      4,
    );
    const now = Date.now();
    fill(
      $('#silences tbody'),
      (silenced?.silences ?? [])
        .filter((s) => s.endsAt > now)
        .map((s) => el('tr', {}, td(s.matchers.map(matcherText).join(' ')), td(dateTime.format(new Date(s.endsAt))), td(s.comment || '–'), td(s.createdBy || '–'))),
      silenced === null ? '–' : 'no active silence',
      4,
    );
  }

  // ---------- navigation and refresh ----------
  const loaders = { business: loadBusiness, sensors: loadSensors, alerts: loadAlerts, users: async () => {}, live: async () => drawLive() };
  const report = (err) => console.warn('pulse dashboard:', err.message ?? err);
  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      await loaders[state.page]();
    } catch (err) {
      report(err);
    } finally {
      refreshing = false;
    }
  }

  function show(page) {
    if (!(page in loaders)) page = 'live';
    state.page = page;
    for (const s of $$('.page')) s.hidden = s.dataset.page !== page;
    for (const a of $$('.tabs a')) a.classList.toggle('on', a.dataset.tab === page);
    // Charts laid out while hidden have no width: size them now.
    for (const [id, u] of Object.entries(charts)) {
      const box = document.getElementById(id);
      if (box.clientWidth > 0 && box.clientWidth !== u.width) u.setSize({ width: box.clientWidth, height: u.height });
    }
    void refresh();
  }

  function init() {
    const y = (label, stroke, scale) => ({ label, stroke, scale: scale ?? 'y' });
    chart('chart-throughput', [y('in', COLORS.in), y('out', COLORS.out)]);
    chart('chart-latency', [y('p50', COLORS.p50), y('p95', COLORS.p95), y('p99', COLORS.p99)]);
    chart('chart-revenue', [{ ...y('revenue', COLORS.revenue), fill: 'rgba(76,194,255,.12)' }, y('orders', COLORS.orders, 'orders')], {
      scales: { orders: {} },
      axes: [{ ...axis }, { ...axis, size: 70 }, { ...axis, scale: 'orders', side: 1, grid: { show: false }, size: 50 }],
    });
    chart('chart-users', [{ ...y('users', COLORS.users), fill: 'rgba(163,113,247,.12)' }]);
    chart('chart-sensor', [y('mean', COLORS.mean), { ...y('min', COLORS.band), dash: [4, 4] }, { ...y('max', COLORS.band), dash: [4, 4] }, { ...y('ewma', COLORS.orders), width: 1 }]);
    chart('chart-anomaly', [{ ...y('anomaly score', COLORS.score), fill: 'rgba(255,123,114,.12)' }]);
    chart('chart-activity', [{ ...y('events per 5 min', COLORS.activity), paths: uPlot.paths.bars({ size: [0.6, 40] }), fill: 'rgba(76,194,255,.35)' }]);

    for (const b of $$('[data-range]')) {
      b.addEventListener('click', () => {
        state.range = b.dataset.range;
        for (const o of $$('[data-range]')) o.classList.toggle('on', o === b);
        void refresh();
      });
    }
    for (const b of $$('[data-top]')) {
      b.addEventListener('click', () => {
        state.topMetric = b.dataset.top;
        for (const o of $$('[data-top]')) o.classList.toggle('on', o === b);
        void refresh();
      });
    }
    $('#user-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void lookupUser($('#user-id').value.trim()).catch(report);
    });
    $('#product-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void similar($('#product-id').value.trim()).catch(report);
    });
    window.addEventListener('hashchange', () => show(location.hash.slice(1)));
    show(location.hash.slice(1) || 'live');
    // Pages over the query API refresh every 5 s; Live moves with the stream.
    setInterval(() => {
      if (state.page !== 'live' && state.page !== 'users' && !document.hidden) void refresh();
    }, 5000);
    void stream();
  }

  init();
})();
