// The chain topology as an SVG graph: input ports on the left, services (with their
// instances) in the middle, ordered by their place in the chains, output ports and `drop` on
// the right. Each edge carries the packet rate along it, from the latest rate sample.

const SVG = 'http://www.w3.org/2000/svg';
const COL_W = 250;
const NODE_W = 150;
const GAP = 18;

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

export function fmtRate(v) {
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(0);
}

/** Nodes and edges from the topology; columns by the longest path to each node. */
function graph(topo) {
  const nodes = new Map();
  const add = (id, kind, label) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, label, col: 0, out: new Set(), in: new Set() });
    return nodes.get(id);
  };
  const inputs = topo.ports.filter((p) => p.input);
  for (const p of inputs) add(`port:${p.name}`, 'port', p.name);
  for (const s of topo.services) add(`svc:${s.name}`, 'service', s.name);
  const edges = new Map();
  const active = new Set([topo.defaultChain, ...topo.rules.map((r) => r.chain)].filter((c) => c !== null));
  for (const c of topo.chains) {
    const ids = c.steps.map((st) => {
      if (st === 'drop') return add('drop', 'drop', 'drop').id;
      const svc = topo.services.find((s) => s.name === st);
      return svc ? `svc:${st}` : add(`out:${st}`, 'outport', st).id;
    });
    const heads = active.has(c.name) ? inputs.map((p) => `port:${p.name}`) : [];
    const path = [null, ...ids];
    for (let k = 0; k < ids.length; k++) {
      const froms = k === 0 ? heads : [path[k]];
      for (const from of froms) {
        const key = `${from}->${ids[k]}`;
        if (!edges.has(key)) edges.set(key, { key, from, to: ids[k], chains: new Set(), active: false });
        const e = edges.get(key);
        e.chains.add(c.name);
        e.active = e.active || active.has(c.name);
        nodes.get(from).out.add(key);
        nodes.get(ids[k]).in.add(key);
      }
    }
  }
  // Longest-path columns (chains have no loops; a bound keeps a bad graph finite).
  for (let pass = 0; pass < nodes.size; pass++) {
    let moved = false;
    for (const e of edges.values()) {
      const a = nodes.get(e.from);
      const b = nodes.get(e.to);
      if (b.col < a.col + 1 && b.kind !== 'outport' && b.kind !== 'drop') {
        b.col = a.col + 1;
        moved = true;
      }
    }
    if (!moved) break;
  }
  const maxSvc = Math.max(0, ...[...nodes.values()].filter((n) => n.kind === 'service').map((n) => n.col));
  for (const n of nodes.values()) if (n.kind === 'outport' || n.kind === 'drop') n.col = maxSvc + 1;
  return { nodes, edges };
}

/** The rate along an edge: exact where one end has no other edge, else the chains' rate. */
function edgeRate(e, g, sample) {
  if (!sample) return 0;
  const svc = (id) => sample.services[id.slice(4)];
  const to = g.nodes.get(e.to);
  const from = g.nodes.get(e.from);
  if (to.kind === 'service' && to.in.size === 1) return svc(e.to)?.rxPps ?? 0;
  if (from.kind === 'service' && from.out.size === 1) return svc(e.from)?.txPps ?? 0;
  if (from.kind === 'port' && from.out.size === 1) return sample.ports[from.label]?.rxPps ?? 0;
  if (to.kind === 'outport' && to.in.size === 1) return sample.ports[to.label]?.txPps ?? 0;
  let r = 0;
  for (const c of e.chains) r += sample.chains[c]?.pps ?? 0;
  return r;
}

/** Draws (replaces) the topology SVG in `host`. */
export function drawTopology(host, topo, sample) {
  const g = graph(topo);
  const cols = new Map();
  for (const n of g.nodes.values()) {
    if (!cols.has(n.col)) cols.set(n.col, []);
    cols.get(n.col).push(n);
  }
  const instOf = (n) => (n.kind === 'service' ? (topo.services.find((s) => s.name === n.label)?.instances ?? []) : []);
  let height = 0;
  for (const [col, list] of cols) {
    let y = 20;
    for (const n of list) {
      n.x = 20 + col * COL_W;
      n.y = y;
      n.h = n.kind === 'service' ? 40 + 16 * Math.max(1, instOf(n).length) : 44;
      y += n.h + GAP;
    }
    height = Math.max(height, y);
  }
  const width = 40 + (Math.max(0, ...cols.keys()) + 1) * COL_W;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'chain topology' });

  for (const e of g.edges.values()) {
    const a = g.nodes.get(e.from);
    const b = g.nodes.get(e.to);
    const x1 = a.x + NODE_W;
    const y1 = a.y + a.h / 2;
    const x2 = b.x;
    const y2 = b.y + b.h / 2;
    const rate = edgeRate(e, g, sample);
    const grp = el('g', { class: `edge${e.active ? '' : ' idle'}`, 'data-edge': e.key }, svg);
    const w = rate > 0 ? Math.min(8, 1.5 + Math.log10(1 + rate) / 1.2) : 1.5;
    el('path', { d: `M${x1},${y1} C${x1 + 40},${y1} ${x2 - 40},${y2} ${x2},${y2}`, 'stroke-width': w.toFixed(1) }, grp);
    const t = el('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle', 'data-rate': rate }, grp);
    t.textContent = e.active ? `${fmtRate(rate)} pps` : 'no traffic';
  }
  for (const n of g.nodes.values()) {
    const kind = n.kind === 'outport' ? 'port' : n.kind;
    const grp = el('g', { class: `node ${kind}`, 'data-node': n.id }, svg);
    el('rect', { x: n.x, y: n.y, width: NODE_W, height: n.h }, grp);
    const title = el('text', { x: n.x + 8, y: n.y + 17, class: 'title' }, grp);
    title.textContent = n.kind === 'service' ? n.label : n.kind === 'drop' ? 'drop' : `port ${n.label}`;
    if (n.kind === 'service') {
      const svc = topo.services.find((s) => s.name === n.label);
      const sub = el('text', { x: n.x + 8, y: n.y + 32 }, grp);
      sub.textContent = `${svc.nf.split('/').pop()} · ${svc.mode}`;
      const insts = instOf(n);
      if (insts.length === 0) {
        const t = el('text', { x: n.x + 8, y: n.y + 48 }, grp);
        t.textContent = 'no instances';
      }
      insts.forEach((i, k) => {
        const s = sample?.instances.find((x) => x.service === n.label && x.instance === i.instance);
        const t = el('text', { x: n.x + 8, y: n.y + 48 + 16 * k }, grp);
        t.textContent = `#${i.instance} ${s ? `${fmtRate(s.rxPps)} pps · ring ${Math.round(s.ringFill * 100)}%` : i.state}`;
      });
    } else if (n.kind !== 'drop') {
      const p = sample?.ports[n.label];
      const sub = el('text', { x: n.x + 8, y: n.y + 34 }, grp);
      sub.textContent = p ? (n.kind === 'port' ? `rx ${fmtRate(p.rxPps)} pps` : `tx ${fmtRate(p.txPps)} pps`) : '';
    }
  }
  host.replaceChildren(svg);
}
