// ARWay observer page: follows one navigation session live, on the client library's ObserverClient
// (served by this server as /client/arway-client.js: the connection, observing again after a
// reconnection, the track with its gaps filled, staleness). Credentials come from the URL fragment
// (#token=<share token> or #jwt=<user JWT>; the fragment never reaches the server or its logs) or
// the query (?shareToken=). Optional #stale=<seconds>, #map=drawn, #debug=1.
// The walk is drawn on a Leaflet map (tiles from MAP_TILE_URL) or, with MAP_TILE_URL=none or when no
// tile loads, on the drawn-to-scale view. No build step; scripts and styles all come from this server.

import { ObserverClient } from '/client/arway-client.js';

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
    forceDrawn: hash.get('map') === 'drawn',
  };
}

/** The server's settings for this page (a JSON data block in the HTML). */
function readConfig() {
  try {
    return JSON.parse(document.getElementById('watch-config')?.textContent || '{}');
  } catch {
    return {};
  }
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
const config = readConfig();
/** The observer client (set in start()); the page reads its state to render. */
let client = null;
const state = {
  fatal: null,
  arrowAngle: null,
};
const $session = () => client?.session ?? null;
const $destination = () => client?.destination ?? null;
const $last = () => client?.last ?? null;

// ---------------------------------------------------------------------------------------------
// Status

function currentStatus() {
  if (state.fatal) return ['error', state.fatal];
  const session = $session();
  if (client?.arrived || $last()?.arrived) return ['arrived', 'Arrived'];
  if (client?.ended || (session && session.status !== 'active')) {
    const status = client?.ended?.status ?? session.status;
    return ['ended', status === 'cancelled' ? 'Ended (cancelled)' : 'Ended'];
  }
  const connected = client && (client.state === 'online' || client.state === 'resuming');
  if (!connected) return ['reconnecting', session ? 'Reconnecting…' : 'Connecting…'];
  if (!session) return ['connecting', 'Connecting…'];
  if (!$last()) return ['waiting', 'Waiting for the first position'];
  if (client.isStale) return ['stale', `Stale: no update for ${Math.round((Date.now() - client.lastUpdateAt) / 1000)} s`];
  return ['navigating', 'Navigating'];
}

function renderStatus() {
  const [key, text] = currentStatus();
  const el = $('status');
  if (el.dataset.status !== key) el.dataset.status = key;
  if (el.textContent !== text) el.textContent = text;
  document.title = `${text} · ARWay live`;
  const at = client?.lastUpdateAt ?? null;
  $('age').textContent = at === null ? '—' : formatAge(Date.now() - at);
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
  const u = $last();
  const d = $destination();
  if (d) {
    $('destination-name').textContent = d.name;
    $('destination-address').textContent = [d.address, d.description].filter(Boolean).join(' · ');
  }
  $('observers').textContent = client?.observers == null ? '—' : String(client.observers);
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
  if (arrived) text = `Arrived at ${$destination()?.name ?? 'the destination'}`;
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
// The drawn view: local projection around the destination, to scale, with a scale bar

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

function renderDrawn() {
  const d = $destination();
  if (!d) return;
  const project = projector(d.lat, d.lon);
  const good = [];
  const outliers = [];
  for (const p of client.track) (p.outlier ? outliers : good).push(project(p.lat, p.lon));
  const u = $last();
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
  $('map-caption').textContent = caption + (mapView.note ? ` ${mapView.note}` : '');
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

// ---------------------------------------------------------------------------------------------
// The map view: Leaflet over the configured tiles, falling back to the drawn view

const mapView = {
  mode: 'drawn', // 'tiles' | 'drawn'
  map: null,
  layers: null,
  fitted: false,
  tilesLoaded: 0,
  tileErrors: 0,
  failed: false,
  note: '',
};

function setMapMode(mode, note = '') {
  mapView.mode = mode;
  mapView.note = note;
  document.documentElement.dataset.mapMode = mode;
  // (an SVG element has no `hidden` property: the attribute, for both)
  $('leaflet-map').toggleAttribute('hidden', mode !== 'tiles');
  $('map').toggleAttribute('hidden', mode === 'tiles');
  const toggle = $('map-toggle');
  toggle.hidden = !mapView.map || mapView.failed;
  toggle.textContent = mode === 'tiles' ? 'Drawn view' : 'Map view';
  if (mode === 'tiles') mapView.map.invalidateSize();
  render();
}

function initMap() {
  const tiles = config.map;
  if (!tiles?.tileUrl || params.forceDrawn || typeof window.L !== 'object') {
    setMapMode('drawn', tiles?.tileUrl && typeof window.L !== 'object' && !params.forceDrawn ? 'The map could not load: showing the drawn view.' : '');
    return;
  }
  const L = window.L;
  const map = L.map('leaflet-map', { zoomControl: true, attributionControl: true });
  const layer = L.tileLayer(tiles.tileUrl, {
    maxZoom: tiles.maxZoom ?? 19,
    attribution: tiles.attribution ?? '',
    // The page's own policy is no-referrer (?shareToken= must not leak); a tile server may ask for a
    // Referer (OpenStreetMap's does): it gets this origin only, never the path or the token.
    referrerPolicy: 'strict-origin',
  });
  layer.on('tileload', () => {
    mapView.tilesLoaded++;
    $('leaflet-map').dataset.tilesLoaded = String(mapView.tilesLoaded);
  });
  layer.on('tileerror', () => {
    mapView.tileErrors++;
    if (mapView.tilesLoaded === 0 && mapView.tileErrors >= 4) fallBack();
  });
  layer.addTo(map);
  L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
  mapView.map = map;
  mapView.layers = {
    radius: L.circle([0, 0], { radius: 1, className: 'lf-radius', interactive: false }),
    destination: L.circleMarker([0, 0], { radius: 6, className: 'lf-destination', interactive: false }),
    track: L.polyline([], { className: 'lf-track', interactive: false }),
    outliers: L.layerGroup(),
    accuracy: L.circle([0, 0], { radius: 1, className: 'lf-accuracy', interactive: false }),
    walker: L.circleMarker([0, 0], { radius: 7, className: 'lf-walker', interactive: false }),
  };
  map.setView([0, 0], 2);
  // No tile at all after a while (a tile server that never answers): the drawn view instead.
  setTimeout(() => {
    if (mapView.tilesLoaded === 0 && mapView.mode === 'tiles') fallBack();
  }, 10_000);
  $('map-toggle').addEventListener('click', () => setMapMode(mapView.mode === 'tiles' ? 'drawn' : 'tiles'));
  setMapMode('tiles');
}

function fallBack() {
  if (mapView.failed) return;
  mapView.failed = true;
  setMapMode('drawn', 'Map tiles could not be loaded: showing the drawn view.');
}

function renderTiles() {
  const d = $destination();
  if (!mapView.map || !d) return;
  const L = window.L;
  const { map, layers } = mapView;
  const dest = [d.lat, d.lon];
  layers.radius.setLatLng(dest).setRadius(d.arrivalRadius ?? 0);
  layers.destination.setLatLng(dest).bindTooltip(d.name, { permanent: true, direction: 'right', className: 'lf-label', offset: [8, 0] });
  for (const l of [layers.radius, layers.destination, layers.track, layers.outliers]) if (!map.hasLayer(l)) l.addTo(map);
  const good = [];
  const outliers = [];
  for (const p of client.track) (p.outlier ? outliers : good).push([p.lat, p.lon]);
  layers.track.setLatLngs(good);
  layers.outliers.clearLayers();
  for (const p of outliers) L.circleMarker(p, { radius: 4, className: 'lf-outlier', interactive: false }).addTo(layers.outliers);
  const u = $last();
  if (u) {
    layers.walker.setLatLng([u.lat, u.lon]);
    layers.accuracy.setLatLng([u.lat, u.lon]).setRadius(Math.min(u.accuracy ?? 0, 500));
    for (const l of [layers.accuracy, layers.walker]) if (!map.hasLayer(l)) l.addTo(map);
  }
  const el = $('leaflet-map');
  el.dataset.points = String(good.length);
  el.dataset.outliers = String(outliers.length);
  // Fit the walk once, then only when the walker leaves the view (a user's pan and zoom stay).
  const bounds = L.latLngBounds([dest, ...good.slice(-2000)]);
  if (u) bounds.extend([u.lat, u.lon]);
  bounds.extend(L.latLng(dest).toBounds((d.arrivalRadius ?? 15) * 2));
  if (!mapView.fitted || (u && !map.getBounds().pad(-0.1).contains([u.lat, u.lon]))) {
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 18, animate: false });
    mapView.fitted = true;
  }
}

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderStatus();
    renderFigures();
    if (!client) return;
    renderDrawn();
    if (mapView.mode === 'tiles') renderTiles();
  });
}

// ---------------------------------------------------------------------------------------------
// Following the session

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

  initMap();
  client = new ObserverClient({
    url: location.origin,
    ...(params.jwt ? { token: params.jwt } : { shareToken: params.shareToken }),
    staleAfterMs: params.staleAfterMs,
    reconnectDelayMs: 500,
    reconnectDelayMaxMs: 5_000,
  });
  const debug = (...args) => params.debug && console.debug('[watch]', ...args);
  if (params.debug) client.socket.onAny((event, ...args) => console.debug('[watch] event', event, JSON.stringify(args).slice(0, 200)));
  const counters = document.documentElement.dataset; // connects / observes / recovered, for tests and debugging
  const count = () => {
    counters.connects = String(client.stats.connects);
    counters.observes = String(client.stats.observes);
    counters.recovered = String(client.stats.recovered);
  };
  count();

  client.on('state', (s, previous) => {
    debug('state', previous, '→', s);
    count();
    render();
  });
  client.on('snapshot', (snapshot, info) => {
    debug('snapshot', snapshot.track.length, 'points', info.reobserved ? '(again)' : '');
    count();
    if (!client.arrived) showMessage(''); // keeps the arrival note, clears errors and 'reconnecting'
    render();
  });
  client.on('update', render);
  client.on('observers', render);
  client.on('stale', render);
  client.on('ended', render);
  client.on('arrived', (p) => {
    showMessage(`Arrived after ${formatDistance(p.totalDistance)}${p.durationSeconds > 0 ? ` in ${formatDuration(p.durationSeconds)}` : ''}.`, 'info');
    render();
  });
  client.on('error', (e) => {
    debug('error', e.code, e.message);
    if (e.fatal) {
      state.fatal = e.code === 'NOT_FOUND' ? 'Not found' : 'Link invalid';
      showMessage(FATAL[e.code] ?? e.message);
    } else if (e.message.startsWith('session:observe')) {
      showMessage(`The server could not load the session (${e.code}); retrying…`);
    } else if (e.details?.wire) {
      showMessage(`Server error: ${e.details.wire.message}`);
    }
    render();
  });
  client.socket.on('server:shutdown', () => showMessage('The server is restarting; reconnecting…', 'info'));
  client.observe(params.sessionId).catch((e) => debug('observe', e.code));

  setInterval(renderStatus, 1000);
  render();
}

start();
