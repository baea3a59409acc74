// ARWay observer page: follows one navigation session live over Socket.IO (namespace /navigation).
// Credentials come from the URL fragment (#token=<share token> or #jwt=<user JWT>; the fragment never
// reaches the server or its logs) or the query (?shareToken=). Optional #stale=<seconds>.
// No build step and no external resources: socket.io-client is served by the app itself.

const STALE_DEFAULT_S = 10;
const WGS84_A = 6378137;
const WGS84_F = 1 / 298.257223563;
const WGS84_E2 = WGS84_F * (2 - WGS84_F);
const MAP_W = 600;
const MAP_H = 440;
const MAP_PAD = 36;
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Parameters

function readParams() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const query = new URLSearchParams(location.search);
  const parts = location.pathname.split('/').filter(Boolean);
  const stale = Number(hash.get('stale') ?? query.get('stale'));
  return {
    sessionId: decodeURIComponent(parts[1] ?? ''),
    shareToken: hash.get('token') ?? query.get('shareToken') ?? query.get('token'),
    jwt: hash.get('jwt'),
    staleAfterMs: (Number.isFinite(stale) && stale > 0 ? stale : STALE_DEFAULT_S) * 1000,
    debug: hash.get('debug') === '1',
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting (every figure is also shown as text, not only drawn)

const COMPASS = ['N', 'NNE', 'NE', 'ENE', 'E', 'ESE', 'SE', 'SSE', 'S', 'SSW', 'SW', 'WSW', 'W', 'WNW', 'NW', 'NNW'];
const compassPoint = (deg) => COMPASS[Math.round((((deg % 360) + 360) % 360) / 22.5) % 16];

function formatDistance(m) {
  if (m == null || !Number.isFinite(m)) return '—';
  if (m >= 1000) return `${(m / 1000).toFixed(m >= 10000 ? 1 : 2)} km`;
  return `${Math.round(m)} m`;
}

function formatDuration(s) {
  if (s == null || !Number.isFinite(s)) return '—';
  const total = Math.max(0, Math.round(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${String(sec).padStart(2, '0')} s`;
  return `${sec} s`;
}

function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s ago` : `${formatDuration(s)} ago`;
}

// ---------------------------------------------------------------------------------------------
// State

const params = readParams();
const state = {
  session: null,
  destination: null,
  last: null,
  /** seq → { lat, lon, outlier } */
  track: new Map(),
  maxSeq: -1,
  observers: null,
  arrival: null,
  ended: null,
  connected: false,
  observed: false,
  fatal: null,
  lastReceivedAt: null,
  arrowAngle: null,
};

// ---------------------------------------------------------------------------------------------
// Status

function currentStatus() {
  if (state.fatal) return ['error', state.fatal];
  if (state.arrival || state.last?.arrived) return ['arrived', 'Arrived'];
  if (state.ended || (state.session && state.session.status !== 'active')) {
    const status = state.ended?.status ?? state.session.status;
    return ['ended', status === 'cancelled' ? 'Ended (cancelled)' : 'Ended'];
  }
  if (!state.connected) return ['reconnecting', state.observed ? 'Reconnecting…' : 'Connecting…'];
  if (!state.observed) return ['connecting', 'Connecting…'];
  if (!state.last) return ['waiting', 'Waiting for the first position'];
  if (state.lastReceivedAt !== null && Date.now() - state.lastReceivedAt > params.staleAfterMs) {
    return ['stale', `Stale: no update for ${Math.round((Date.now() - state.lastReceivedAt) / 1000)} s`];
  }
  return ['navigating', 'Navigating'];
}

function renderStatus() {
  const [key, text] = currentStatus();
  const el = $('status');
  if (el.dataset.status !== key) el.dataset.status = key;
  if (el.textContent !== text) el.textContent = text;
  document.title = `${text} · ARWay live`;
  $('age').textContent = state.lastReceivedAt === null ? '—' : formatAge(Date.now() - state.lastReceivedAt);
}

function showMessage(text, kind = 'alert') {
  const el = $('message');
  el.textContent = text;
  el.classList.toggle('info', kind === 'info');
  el.hidden = !text;
}

// ---------------------------------------------------------------------------------------------
// Figures and arrow

function renderFigures() {
  const u = state.last;
  const d = state.destination;
  if (d) {
    $('destination-name').textContent = d.name;
    $('destination-address').textContent = [d.address, d.description].filter(Boolean).join(' · ');
  }
  $('observers').textContent = state.observers == null ? '—' : String(state.observers);
  if (!u) return;
  const distance = $('distance');
  distance.textContent = formatDistance(u.distance);
  distance.dataset.meters = String(u.distance);
  distance.dataset.seq = String(u.seq);
  const eta = $('eta');
  const arrived = currentStatus()[0] === 'arrived';
  eta.textContent = arrived ? 'arrived' : u.etaSeconds == null ? '—' : formatDuration(u.etaSeconds);
  eta.dataset.seconds = u.etaSeconds == null ? '' : String(u.etaSeconds);
  $('speed').textContent = u.speed == null ? '—' : `${u.speed.toFixed(1)} m/s (${(u.speed * 3.6).toFixed(1)} km/h)`;
  $('accuracy').textContent = u.accuracy == null ? 'unknown' : `± ${u.accuracy < 10 ? u.accuracy.toFixed(1) : Math.round(u.accuracy)} m`;
  $('bearing').textContent = `${Math.round(u.bearing) % 360}° ${compassPoint(u.bearing)}`;
  $('heading').textContent = u.heading == null ? 'no compass' : `${Math.round(u.heading) % 360}° ${compassPoint(u.heading)} (true)`;
  $('traveled').textContent = formatDistance(u.traveled);
  $('last-fix').textContent = `#${u.seq} at ${new Date(u.recordedAt).toLocaleTimeString()}`;
  renderArrow(u, arrived);
}

function renderArrow(u, arrived) {
  const shape = $('arrow-shape');
  const hasHeading = u.relativeAngle != null;
  const target = hasHeading ? u.relativeAngle : u.bearing;
  // Turn the short way round from the previous angle, so 179° → -179° is a 2° turn, not 358°.
  const prev = state.arrowAngle ?? target;
  const delta = ((((target - prev) % 360) + 540) % 360) - 180;
  state.arrowAngle = prev + delta;
  shape.style.transform = `rotate(${state.arrowAngle}deg)`;
  shape.classList.toggle('no-heading', !hasHeading);
  $('arrow-frame').textContent = hasHeading
    ? 'Arrow: relative to where the phone points (up = ahead)'
    : 'Arrow: bearing from north (up = north; the walker sends no compass heading)';
  let text;
  if (arrived) text = `Arrived at ${state.destination?.name ?? 'the destination'}`;
  else if (!hasHeading) text = `Head ${Math.round(u.bearing) % 360}° ${compassPoint(u.bearing)}`;
  else {
    const r = Math.round(u.relativeAngle);
    if (Math.abs(r) <= 10) text = `Straight ahead (${r > 0 ? '+' : ''}${r}°)`;
    else if (Math.abs(r) >= 150) text = `Turn around (${Math.abs(r)}° ${r > 0 ? 'right' : 'left'})`;
    else text = `Turn ${Math.abs(r)}° ${r > 0 ? 'right' : 'left'}`;
  }
  $('direction').textContent = text;
  $('arrow').setAttribute('aria-label', text);
}

// ---------------------------------------------------------------------------------------------
// Map: local projection around the destination, to scale, with a scale bar

/** East/north offsets in metres from the destination (equirectangular on the WGS84 radii of curvature). */
function projector(lat0, lon0) {
  const phi = (lat0 * Math.PI) / 180;
  const s2 = Math.sin(phi) ** 2;
  const n = WGS84_A / Math.sqrt(1 - WGS84_E2 * s2);
  const m = (WGS84_A * (1 - WGS84_E2)) / (1 - WGS84_E2 * s2) ** 1.5;
  return (lat, lon) => {
    const dLon = ((((lon - lon0) % 360) + 540) % 360) - 180;
    return { x: ((dLon * Math.PI) / 180) * n * Math.cos(phi), y: (((lat - lat0) * Math.PI) / 180) * m };
  };
}

function niceLength(maxM) {
  const p = 10 ** Math.floor(Math.log10(maxM));
  for (const k of [5, 2, 1]) if (k * p <= maxM) return k * p;
  return p;
}

function renderMap() {
  const d = state.destination;
  if (!d) return;
  const project = projector(d.lat, d.lon);
  const seqs = [...state.track.keys()].sort((a, b) => a - b);
  const good = [];
  const outliers = [];
  for (const seq of seqs) {
    const p = state.track.get(seq);
    (p.outlier ? outliers : good).push(project(p.lat, p.lon));
  }
  const u = state.last;
  const walker = u ? project(u.lat, u.lon) : null;
  const radius = d.arrivalRadius ?? 0;

  let minX = -radius, maxX = radius, minY = -radius, maxY = radius;
  const extend = (x, y, r = 0) => {
    minX = Math.min(minX, x - r); maxX = Math.max(maxX, x + r);
    minY = Math.min(minY, y - r); maxY = Math.max(maxY, y + r);
  };
  for (const p of good) extend(p.x, p.y);
  if (walker) extend(walker.x, walker.y, Math.min(u.accuracy ?? 0, 200));
  const spanM = Math.max(maxX - minX, maxY - minY, 40);
  const scale = Math.min((MAP_W - 2 * MAP_PAD) / Math.max(maxX - minX, 40), (MAP_H - 2 * MAP_PAD) / Math.max(maxY - minY, 40));
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  const toPx = (p) => [MAP_W / 2 + (p.x - cx) * scale, MAP_H / 2 - (p.y - cy) * scale];

  // Grid every scale-bar length.
  const bar = niceLength((MAP_W * 0.3) / scale);
  const grid = $('map-grid');
  grid.replaceChildren();
  const origin = toPx({ x: 0, y: 0 });
  const step = bar * scale;
  if (step > 12) {
    for (let x = origin[0] % step; x < MAP_W; x += step) grid.append(line(x, 0, x, MAP_H));
    for (let y = origin[1] % step; y < MAP_H; y += step) grid.append(line(0, y, MAP_W, y));
  }

  const dest = $('map-destination');
  dest.setAttribute('transform', `translate(${origin[0].toFixed(1)} ${origin[1].toFixed(1)})`);
  $('map-destination-label').textContent = d.name;
  const rad = $('map-radius');
  rad.setAttribute('cx', origin[0].toFixed(1));
  rad.setAttribute('cy', origin[1].toFixed(1));
  rad.setAttribute('r', (radius * scale).toFixed(1));

  $('map-track').setAttribute('points', good.map((p) => toPx(p).map((v) => v.toFixed(1)).join(',')).join(' '));
  $('map').dataset.points = String(good.length);
  $('map').dataset.outliers = String(outliers.length);
  const outG = $('map-outliers');
  outG.replaceChildren(
    ...outliers.map((p) => {
      const [x, y] = toPx(p);
      const path = document.createElementNS(SVG_NS, 'path');
      path.setAttribute('d', `M ${x - 4} ${y - 4} L ${x + 4} ${y + 4} M ${x - 4} ${y + 4} L ${x + 4} ${y - 4}`);
      return path;
    }),
  );

  const w = $('map-walker');
  const acc = $('map-accuracy');
  const wedge = $('map-heading');
  if (walker) {
    const [x, y] = toPx(walker);
    for (const el of [w, acc]) {
      el.setAttribute('cx', x.toFixed(1));
      el.setAttribute('cy', y.toFixed(1));
      el.setAttribute('visibility', 'visible');
    }
    acc.setAttribute('r', ((u.accuracy ?? 0) * scale).toFixed(1));
    if (u.heading != null) {
      const a = ((u.heading - 90) * Math.PI) / 180;
      const spread = (25 * Math.PI) / 180;
      const len = 30;
      wedge.setAttribute(
        'd',
        `M ${x} ${y} L ${x + len * Math.cos(a - spread)} ${y + len * Math.sin(a - spread)} ` +
          `A ${len} ${len} 0 0 1 ${x + len * Math.cos(a + spread)} ${y + len * Math.sin(a + spread)} Z`,
      );
      wedge.setAttribute('visibility', 'visible');
    } else wedge.setAttribute('visibility', 'hidden');
  } else {
    for (const el of [w, acc, wedge]) el.setAttribute('visibility', 'hidden');
  }

  // Scale bar.
  const barPx = bar * scale;
  $('scale-line').setAttribute('x2', barPx.toFixed(1));
  $('scale-tick-end').setAttribute('x1', barPx.toFixed(1));
  $('scale-tick-end').setAttribute('x2', barPx.toFixed(1));
  const label = $('scale-label');
  label.setAttribute('x', (barPx / 2).toFixed(1));
  label.textContent = formatDistance(bar);

  const caption = walker
    ? `${good.length} position${good.length === 1 ? '' : 's'}${outliers.length ? ` (+${outliers.length} rejected)` : ''}; ` +
      `walker ${formatDistance(u.distance)} ${compassPoint((u.bearing + 180) % 360)} of the destination; ` +
      `map ${formatDistance(spanM)} across, scale bar ${formatDistance(bar)}.`
    : `No position yet. Destination at ${d.lat.toFixed(5)}, ${d.lon.toFixed(5)}; arrival radius ${formatDistance(radius)}.`;
  $('map-caption').textContent = caption;
  $('map').setAttribute('aria-label', `Track map. ${caption}`);
}

function line(x1, y1, x2, y2) {
  const el = document.createElementNS(SVG_NS, 'line');
  el.setAttribute('x1', x1.toFixed(1));
  el.setAttribute('y1', y1.toFixed(1));
  el.setAttribute('x2', x2.toFixed(1));
  el.setAttribute('y2', y2.toFixed(1));
  return el;
}

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderStatus();
    renderFigures();
    renderMap();
  });
}

// ---------------------------------------------------------------------------------------------
// Socket

/** The page keeps (and draws) at most this many of the latest points. */
const TRACK_LIMIT = 5000;

function addTrackPoint(seq, lat, lon, outlier = false) {
  state.track.set(seq, { lat, lon, outlier });
  if (seq > state.maxSeq) state.maxSeq = seq;
  if (state.track.size > TRACK_LIMIT) {
    const oldest = [...state.track.keys()].sort((a, b) => a - b).slice(0, state.track.size - TRACK_LIMIT);
    for (const k of oldest) state.track.delete(k);
  }
}

/** True when the known track misses a seq between its first and last point. */
function hasGaps() {
  const seqs = [...state.track.keys()];
  return seqs.length > 0 && state.maxSeq - Math.min(...seqs) + 1 > seqs.length;
}

function applySnapshot(snapshot) {
  state.session = snapshot.session;
  state.destination = snapshot.destination;
  for (const p of snapshot.track) if (!state.track.has(p.seq)) addTrackPoint(p.seq, p.lat, p.lon);
  if (snapshot.last && (!state.last || snapshot.last.seq >= state.last.seq)) {
    state.last = snapshot.last;
    if (state.lastReceivedAt === null) state.lastReceivedAt = Date.now();
  }
  state.observers = snapshot.observers;
  state.observed = true;
  if (snapshot.session.status === 'completed' && snapshot.last?.arrived) state.arrival ??= { sessionId: snapshot.session.id };
  if (snapshot.session.status !== 'active') state.ended ??= { status: snapshot.session.status, totalDistance: snapshot.session.totalDistance };
}

const FATAL = {
  UNAUTHORIZED: 'This link is invalid or has expired.',
  FORBIDDEN: 'This link is for another session.',
  NOT_FOUND: 'This navigation session does not exist.',
  VALIDATION_FAILED: 'This link is malformed.',
};

function start() {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(params.sessionId)) {
    state.fatal = 'Invalid link';
    showMessage('This link does not name a navigation session.');
    render();
    return;
  }
  if (!params.shareToken && !params.jwt) {
    state.fatal = 'Invalid link';
    showMessage('This link has no share token (#token=…).');
    render();
    return;
  }
  if (typeof window.io !== 'function') {
    state.fatal = 'Error';
    showMessage('The Socket.IO client did not load.');
    render();
    return;
  }

  const socket = window.io('/navigation', {
    auth: params.jwt ? { token: params.jwt } : { shareToken: params.shareToken },
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
  if (params.debug) socket.onAny((event, ...args) => console.debug('[watch] event', event, JSON.stringify(args).slice(0, 200)));
  const debug = (...args) => params.debug && console.debug('[watch]', ...args);
  let observing = false;
  let refillTimer = null;
  let lastDisconnect = null;
  const counters = document.documentElement.dataset; // connects / observes / recovered, for tests and debugging
  counters.connects = '0';
  counters.observes = '0';

  /** Re-observes until the snapshot's stored track has no gaps (points become stored a little later). */
  const scheduleRefill = (attempt) => {
    if (refillTimer) return;
    refillTimer = setTimeout(() => {
      refillTimer = null;
      observe(() => {
        if (hasGaps() && attempt < 6) scheduleRefill(attempt + 1);
      });
    }, 300 * (attempt + 1));
  };

  const observe = (then) => {
    if (observing) return;
    observing = true;
    counters.observes = String(Number(counters.observes) + 1);
    socket.timeout(10_000).emit('session:observe', { sessionId: params.sessionId }, (err, answer) => {
      observing = false;
      if (err) {
        if (socket.connected) setTimeout(observe, 1000); // no answer: try again
        return;
      }
      if (!answer.ok) {
        const text = FATAL[answer.error.code];
        if (text) {
          state.fatal = answer.error.code === 'NOT_FOUND' ? 'Not found' : 'Link invalid';
          showMessage(text);
          socket.close();
        } else {
          showMessage(`The server could not load the session (${answer.error.code}); retrying…`);
          setTimeout(observe, 2000);
        }
        render();
        return;
      }
      if (!state.arrival) showMessage(''); // keeps the arrival note, clears errors and 'reconnecting'
      applySnapshot(answer.snapshot);
      render();
      then?.();
    });
  };

  socket.on('connect', () => {
    debug('connect', socket.id, 'recovered', socket.recovered);
    state.connected = true;
    counters.connects = String(Number(counters.connects) + 1);
    counters.recovered = String(socket.recovered);
    // A recovered connection kept its rooms and got the missed events; otherwise observe again.
    // After the server itself disconnected us, observe again even if "recovered": Socket.IO's
    // in-memory adapter keeps an older persisted session that the reconnect may restore.
    if (!socket.recovered || !state.observed || lastDisconnect === 'io server disconnect') observe();
    lastDisconnect = null;
    render();
  });
  socket.on('disconnect', (reason) => {
    debug('disconnect', reason);
    lastDisconnect = reason;
    state.connected = false;
    // The server closed this socket (e.g. it restarted): Socket.IO does not retry by itself then.
    if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 1000);
    render();
  });
  socket.on('connect_error', (err) => {
    debug('connect_error', err.message, 'active', socket.active);
    state.connected = false;
    if (err.message === 'UNAUTHORIZED') {
      state.fatal = 'Link invalid';
      showMessage(FATAL.UNAUTHORIZED);
      socket.close();
    } else if (!socket.active) {
      setTimeout(() => socket.connect(), 2000); // refused by the server (UNAVAILABLE…): retry
    }
    render();
  });
  socket.on('server:shutdown', () => showMessage('The server is restarting; reconnecting…', 'info'));

  socket.on('navigation:update', (u) => {
    if (u.sessionId !== params.sessionId) return;
    state.lastReceivedAt = Date.now();
    // A batch upload (offline walk) announces only its last point: fetch the stored track to fill the gap.
    if (u.seq > state.maxSeq + 1 && state.maxSeq >= 0) scheduleRefill(0);
    addTrackPoint(u.seq, u.lat, u.lon, Boolean(u.outlier));
    if (!u.late && !u.outlier && (!state.last || u.seq >= state.last.seq)) state.last = u;
    render();
  });
  socket.on('navigation:arrived', (p) => {
    if (p.sessionId !== params.sessionId) return;
    state.arrival = p;
    showMessage(`Arrived after ${formatDistance(p.totalDistance)}${p.durationSeconds > 0 ? ` in ${formatDuration(p.durationSeconds)}` : ''}.`, 'info');
    render();
  });
  socket.on('session:ended', (p) => {
    if (p.sessionId !== params.sessionId) return;
    state.ended = p;
    if (state.session) state.session = { ...state.session, status: p.status };
    render();
  });
  socket.on('session:observers', (p) => {
    if (p.sessionId !== params.sessionId) return;
    state.observers = p.count;
    render();
  });
  socket.on('navigation:error', (e) => showMessage(`Server error: ${e.message}`));

  setInterval(renderStatus, 1000);
  render();
}

start();
