// Small programs the namespace tests run inside h1/h2 with `node -e`: a UDP echo server, a
// UDP prober and an HTTP file server. Plain JavaScript strings: they run in the host
// namespaces, apart from netvm.

/** UDP echo on every port in argv (`node -e SCRIPT addr port...`); prints "listening" when bound. */
export const UDP_ECHO = `
const dgram = require('node:dgram');
const [addr, ...ports] = process.argv.slice(1);
let bound = 0;
for (const p of ports) {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
  s.bind(Number(p), addr, () => { if (++bound === ports.length) console.log('listening'); });
}
`;

/**
 * UDP probe (\`node -e SCRIPT dst port tries timeoutMs\`): sends a probe up to \`tries\` times and
 * prints {"port":P,"answered":true|false,"sent":N}.
 */
export const UDP_PROBE = `
const dgram = require('node:dgram');
const [dst, port, tries, timeout] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const s = dgram.createSocket('udp4');
let sent = 0;
let timer = null;
let finished = false;
const done = (answered) => {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  console.log(JSON.stringify({ port, answered, sent }));
  s.close();
};
s.on('message', (m) => { if (m.toString() === 'netvm-probe') done(true); });
const fire = () => {
  if (finished) return;
  if (sent === tries) return done(false);
  sent++;
  s.send('netvm-probe', port, dst);
  timer = setTimeout(fire, timeout);
};
s.bind(0, fire);
`;

/** HTTP server of one directory (\`node -e SCRIPT dir addr port\`); prints "listening". */
export const HTTP_FILES = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const [dir, addr, port] = process.argv.slice(1);
http.createServer((req, res) => {
  const file = path.join(dir, path.basename(decodeURIComponent(req.url)));
  fs.stat(file, (err, st) => {
    if (err) { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
}).listen(Number(port), addr, () => console.log('listening'));
`;
