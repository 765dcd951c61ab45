// The netvm dashboard. It talks only to the control API (docs/control-plane.md): the
// topology and the last minutes of rate samples at load, then the event stream
// (/api/v1/events: a sample per second and NF/chain/rule events) read with fetch so that the
// bearer token goes in the Authorization header. The token comes from the URL fragment the
// manager prints (#token=…), which browsers never send to the server; it is kept in
// sessionStorage and removed from the address bar.
/* global uPlot */
import { drawTopology, fmtRate } from './topology.js';

const WINDOW_S = 300; // charts show the last five minutes
const $ = (sel) => document.querySelector(sel);

const state = {
  token: null,
  topology: null,
  samples: [],
  last: null,
  events: [],
  charts: {},
  connected: false,
};
// For tests and curious operators: the dashboard's live state.
window.netvm = state;

function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('netvm-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('netvm-token');
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${state.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
  if (res.status === 401) showLogin('the token was refused');
  if (!res.ok) throw new Error(data && data.message ? `${data.message} (HTTP ${res.status})` : `HTTP ${res.status}`);
  return data;
}

function showLogin(why) {
  sessionStorage.removeItem('netvm-token');
  $('#main').hidden = true;
  $('#login').hidden = false;
  setConn(false, why);
}

function setConn(ok, text) {
  state.connected = ok;
  const c = $('#conn');
  c.textContent = text;
  c.className = `conn ${ok ? 'ok' : 'bad'}`;
}

// ------------------------------------------------------------------ tables

function text(tag, content, cls) {
  const e = document.createElement(tag);
  e.textContent = content;
  if (cls) e.className = cls;
  return e;
}

function button(label, cls, attrs, onClick) {
  const b = text('button', label, cls);
  for (const [k, v] of Object.entries(attrs)) b.setAttribute(k, v);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const msg = await onClick();
      $('#action-result').textContent = msg;
    } catch (err) {
      $('#action-result').textContent = `failed: ${err.message}`;
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function renderServices() {
  const topo = state.topology;
  const s = state.last;
  const body = $('#services tbody');
  const rows = [];
  for (const svc of topo.services) {
    const tr = document.createElement('tr');
    tr.className = 'service';
    const td = text('td', `${svc.name} `);
    td.appendChild(text('span', `${svc.nf.split('/').pop()} · ${svc.instances.length} running`, 'muted'));
    tr.appendChild(td);
    const agg = s?.services[svc.name];
    tr.appendChild(text('td', agg ? fmtRate(agg.rxPps) : '', 'num'));
    tr.appendChild(text('td', agg ? fmtRate(agg.txPps) : '', 'num'));
    tr.append(text('td', ''), text('td', ''), text('td', ''), text('td', ''));
    const actions = document.createElement('td');
    actions.append(
      button('+1', 'scale-up', { 'data-action': 'scale-up', 'data-service': svc.name, title: 'start one more instance' }, async () => {
        const r = await api('POST', `/api/v1/services/${encodeURIComponent(svc.name)}/instances`, {});
        await refreshTopology();
        return `started ${r.service}#${r.instance} (pid ${r.pid})`;
      }),
      ' ',
      button('−1', 'scale-down', { 'data-action': 'scale-down', 'data-service': svc.name, title: 'stop the newest instance' }, async () => {
        const r = await api('PUT', `/api/v1/services/${encodeURIComponent(svc.name)}/scale`, {
          instances: Math.max(0, svc.instances.length - 1),
        });
        await refreshTopology();
        return `${r.service}: ${r.instances} instances`;
      }),
    );
    tr.appendChild(actions);
    rows.push(tr);
    for (const inst of svc.instances) {
      const i = s?.instances.find((x) => x.service === svc.name && x.instance === inst.instance);
      const r = document.createElement('tr');
      r.setAttribute('data-instance', `${svc.name}#${inst.instance}`);
      r.appendChild(text('td', `  ${svc.name}#${inst.instance} (pid ${inst.pid})`));
      r.appendChild(text('td', i ? fmtRate(i.rxPps) : '-', 'num'));
      r.appendChild(text('td', i ? fmtRate(i.txPps) : '-', 'num'));
      r.appendChild(text('td', i ? fmtRate(i.dropPps) : '-', 'num'));
      const ring = document.createElement('td');
      ring.className = 'num';
      const bar = document.createElement('span');
      bar.className = 'ring-bar';
      const fill = document.createElement('span');
      fill.style.width = `${Math.round((i?.ringFill ?? 0) * 100)}%`;
      bar.appendChild(fill);
      ring.append(bar, `${Math.round((i?.ringFill ?? 0) * 100)}%`);
      r.appendChild(ring);
      r.appendChild(text('td', i ? fmtRate(i.wakeupsPs) : '-', 'num'));
      r.appendChild(text('td', i ? (i.asleep ? 'asleep' : i.state) : inst.state));
      const act = document.createElement('td');
      act.appendChild(
        button(
          'stop',
          'stop',
          {
            'data-action': 'stop',
            'data-service': svc.name,
            'data-instance': String(inst.instance),
            title: 'drain and stop this instance',
          },
          async () => {
            const res = await api('DELETE', `/api/v1/services/${encodeURIComponent(svc.name)}/instances/${inst.instance}`);
            await refreshTopology();
            return `stopped ${res.service}#${res.instance}${res.drained ? ' (ring drained)' : ''}`;
          },
        ),
      );
      r.appendChild(act);
      rows.push(r);
    }
  }
  body.replaceChildren(...rows);
}

function renderPorts() {
  const s = state.last;
  const rows = state.topology.ports.map((p) => {
    const r = document.createElement('tr');
    r.setAttribute('data-port', p.name);
    const q = s?.ports[p.name];
    r.append(
      text('td', p.name),
      text('td', `${p.driver}${p.input ? ' in' : ''}${p.output ? ' out' : ''}`),
      text('td', q ? fmtRate(q.rxPps) : '-', 'num rx'),
      text('td', q ? fmtRate(q.txPps) : '-', 'num tx'),
      text('td', q ? fmtRate(q.rxBps) : '-', 'num'),
      text('td', q ? fmtRate(q.txBps) : '-', 'num'),
    );
    return r;
  });
  $('#ports tbody').replaceChildren(...rows);
}

function renderChains() {
  const topo = state.topology;
  const s = state.last;
  const lines = topo.chains.map((c) => {
    const d = document.createElement('div');
    d.appendChild(text('code', c.name));
    const used = [c.default ? 'default' : '', c.rules.length ? `rules ${c.rules.join(', ')}` : ''].filter(Boolean).join(', ');
    d.append(` ${c.steps.join(' → ')}  `, text('span', `${used || 'unused'} · ${fmtRate(s?.chains[c.name]?.pps ?? 0)} pps`, 'muted'));
    return d;
  });
  for (const r of topo.rules) {
    const d = document.createElement('div');
    const m = Object.entries(r.match)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    d.append(text('span', `rule ${r.id}: `, 'muted'), `${m} → `, text('code', r.chain));
    lines.push(d);
  }
  $('#chains').replaceChildren(...lines);
}

function renderSummary() {
  const s = state.last;
  if (!s) return;
  $('#summary').textContent =
    `up ${s.uptimeSeconds.toFixed(0)} s · pool ${s.pool.free}/${s.pool.size} free · ` + `flows ${s.flows} · NF deaths ${s.nfDeaths}`;
}

function addEvent(e) {
  state.events.push(e);
  if (state.events.length > 200) state.events.shift();
  const who =
    e.service !== undefined
      ? `${e.service}${e.instance !== undefined ? `#${e.instance}` : ''}`
      : (e.chain ?? (e.rule !== undefined ? `rule ${e.rule}` : ''));
  const li = text('li', `${(e.time ?? '').slice(11, 19)}  ${e.type}  ${who}${e.steps ? `  ${e.steps.join(' → ')}` : ''}`);
  li.setAttribute('data-event', e.type);
  $('#events').prepend(li);
  while ($('#events').children.length > 200) $('#events').lastChild.remove();
}

// ------------------------------------------------------------------ charts (uPlot)

/** Rebuilds a chart when its series change (instances come and go), else updates its data. */
function chart(id, seriesNames, rows, opts = {}) {
  const host = document.getElementById(id);
  const key = seriesNames.join('|');
  let c = state.charts[id];
  if (!c || c.key !== key) {
    c?.plot.destroy();
    const palette = ['#2f6fde', '#d9822b', '#2a9d58', '#c4471d', '#7b52c7', '#1b9aaa', '#b5568a', '#6b7585', '#a1a829', '#444'];
    const plot = new uPlot(
      {
        width: Math.max(300, host.clientWidth || 500),
        height: 220,
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(opts.minMax ?? 1, max * 1.1)] } },
        axes: [
          {},
          { size: 60, values: (u, vals) => vals.map((v) => (opts.percent ? `${v}%` : v > 0 && v < 10 ? v.toFixed(1) : fmtRate(v))) },
        ],
        series: [
          {},
          ...seriesNames.map((n, k) => ({ label: n, stroke: palette[k % palette.length], width: 1.5, points: { show: false } })),
        ],
      },
      rows,
      host,
    );
    c = { plot, key };
    state.charts[id] = c;
  } else c.plot.setData(rows);
}

function renderCharts() {
  const samples = state.samples;
  const xs = samples.map((s) => s.t / 1000);
  const instKeys = [...new Set(samples.flatMap((s) => s.instances.map((i) => `${i.service}#${i.instance}`)))];
  const inst = (s, k) => s.instances.find((i) => `${i.service}#${i.instance}` === k);
  chart('chart-nf', instKeys, [xs, ...instKeys.map((k) => samples.map((s) => inst(s, k)?.rxPps ?? null))]);
  chart('chart-rings', instKeys, [xs, ...instKeys.map((k) => samples.map((s) => (inst(s, k) ? inst(s, k).ringFill * 100 : null)))], {
    percent: true,
    minMax: 5,
  });
  const portKeys = Object.keys(state.last?.ports ?? {});
  const portSeries = portKeys.flatMap((p) => [`${p} rx`, `${p} tx`]);
  chart('chart-ports', portSeries, [
    xs,
    ...portKeys.flatMap((p) => [samples.map((s) => s.ports[p]?.rxPps ?? null), samples.map((s) => s.ports[p]?.txPps ?? null)]),
  ]);
  const causes = ['action', 'ringFull', 'noRoute', 'invalid', 'handlerErrors', 'noBuffer', 'unclassified'];
  chart('chart-drops', causes, [xs, ...causes.map((c) => samples.map((s) => s.drops[c]))], { minMax: 10 });
}

// ------------------------------------------------------------------ data flow

function render() {
  if (!state.topology) return;
  renderSummary();
  drawTopology($('#topology'), state.topology, state.last);
  renderServices();
  renderPorts();
  renderChains();
  renderCharts();
}

async function refreshTopology() {
  state.topology = await api('GET', '/api/v1/topology');
  render();
}

function onSample(s) {
  state.samples.push(s);
  const cut = s.t - WINDOW_S * 1000;
  while (state.samples.length > 0 && state.samples[0].t < cut) state.samples.shift();
  state.last = s;
  render();
}

/** Reads the event stream; reconnects after a pause when it ends. */
async function stream() {
  for (;;) {
    try {
      const res = await fetch('/api/v1/events', { headers: { authorization: `Bearer ${state.token}`, accept: 'text/event-stream' } });
      if (res.status === 401) return showLogin('the token was refused');
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setConn(true, 'live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let type = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) type = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length === 0) continue;
          const obj = JSON.parse(data.join('\n'));
          if (type === 'sample') onSample(obj);
          else if (type !== 'hello') {
            addEvent(obj);
            // Lifecycle and configuration events change the graph.
            refreshTopology().catch(() => {});
          }
        }
      }
      setConn(false, 'disconnected (manager stopped?) — retrying');
    } catch (err) {
      setConn(false, `disconnected: ${err.message} — retrying`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function start() {
  state.token = takeToken();
  if (!state.token) return showLogin('no token');
  $('#login').hidden = true;
  $('#main').hidden = false;
  try {
    const info = await api('GET', '/api/v1');
    $('#instance-name').textContent = info.name;
    document.title = `netvm ${info.name}`;
    state.samples = await api('GET', '/api/v1/samples');
    for (const e of await api('GET', '/api/v1/events/recent')) addEvent(e);
    state.last = state.samples[state.samples.length - 1] ?? null;
    await refreshTopology();
  } catch (err) {
    setConn(false, err.message);
  }
  void stream();
}

$('#login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem('netvm-token', $('#token-input').value.trim());
  void start();
});
window.addEventListener('resize', () => {
  for (const c of Object.values(state.charts)) c.plot.setSize({ width: Math.max(300, c.plot.root.parentElement.clientWidth), height: 220 });
});
void start();
