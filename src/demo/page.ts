/** The demo's single page: a small shop with a live view of the cluster behind it. */
export const demoPage = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Northwind Outfitters · session failover demo</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%234f46e5'/%3E%3Cpath d='M9 23V9l7 8 7-8v14' fill='none' stroke='%23fff' stroke-width='3' stroke-linejoin='round'/%3E%3C/svg%3E">
<style>
  :root { --bg:#f5f6fa; --card:#fff; --ink:#1c2333; --muted:#6b7489; --line:#e4e7ef; --brand:#4f46e5; --ok:#16a34a; --bad:#dc2626; --warn:#d97706; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
  header { background:linear-gradient(120deg,#312e81,#4f46e5 60%,#7c3aed); color:#fff; padding:22px 32px; }
  header h1 { margin:0; font-size:22px; letter-spacing:.2px; }
  header p { margin:4px 0 0; opacity:.85; font-size:14px; }
  main { display:grid; grid-template-columns: minmax(0,1.1fr) minmax(0,1fr); gap:20px; padding:24px 32px; max-width:1280px; margin:0 auto; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:14px; padding:18px 20px; box-shadow:0 1px 2px rgba(16,24,40,.04); }
  .card h2 { margin:0 0 12px; font-size:15px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); }
  .stack > * + * { margin-top:16px; }
  .row { display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
  input { font:inherit; padding:9px 12px; border:1px solid var(--line); border-radius:9px; min-width:200px; }
  button { font:inherit; border:0; border-radius:9px; padding:9px 14px; cursor:pointer; background:var(--brand); color:#fff; font-weight:600; }
  button.ghost { background:#eef0f7; color:var(--ink); font-weight:500; }
  button.danger { background:#fee2e2; color:#991b1b; }
  button.small { padding:5px 10px; font-size:13px; }
  button:disabled { opacity:.45; cursor:default; }
  .products { display:grid; grid-template-columns:repeat(3,1fr); gap:12px; }
  .product { border:1px solid var(--line); border-radius:12px; padding:14px; text-align:center; }
  .product .icon { width:56px; height:56px; margin:2px auto 0; border-radius:14px; display:grid; place-items:center; color:#fff; font-weight:800; font-size:22px; }
  .product b { display:block; margin:6px 0 2px; }
  .product span { color:var(--muted); font-size:13px; display:block; margin-bottom:10px; }
  .cart li { padding:4px 0; border-bottom:1px dashed var(--line); }
  .pill { display:inline-block; padding:2px 10px; border-radius:999px; font-size:12.5px; font-weight:600; background:#eef2ff; color:#3730a3; }
  .served { font-size:13px; color:var(--muted); }
  .nodes { display:grid; grid-template-columns:repeat(3,1fr); gap:10px; }
  .node { border:1px solid var(--line); border-radius:12px; padding:12px; }
  .node.current { border-color:var(--brand); box-shadow:0 0 0 2px #c7d2fe; }
  .node .name { font-weight:700; }
  .node .meta { color:var(--muted); font-size:12.5px; margin:2px 0 8px; }
  .dot { width:9px; height:9px; border-radius:50%; display:inline-block; margin-right:6px; background:var(--bad); }
  .dot.up { background:var(--ok); }
  .node .actions { display:flex; flex-wrap:wrap; align-items:center; gap:6px; }
  .badge { font-size:11px; font-weight:700; color:#065f46; background:#d1fae5; padding:2px 7px; border-radius:999px; white-space:nowrap; }
  .stats { display:grid; grid-template-columns:repeat(3,1fr); gap:10px; }
  .stat { background:#f8f9fc; border-radius:10px; padding:10px 12px; }
  .stat b { display:block; font-size:19px; }
  .stat span { color:var(--muted); font-size:12px; }
  #log { font:12.5px/1.6 ui-monospace,SFMono-Regular,Menlo,monospace; max-height:150px; overflow:auto; color:#374151; margin:0; padding:0; list-style:none; }
  .error { color:var(--bad); font-weight:600; }
  footer { color:var(--muted); font-size:12.5px; text-align:center; padding:0 0 24px; }
  @media (max-width: 980px) { main { grid-template-columns:minmax(0,1fr); } }
  @media (max-width: 520px) {
    header { padding:16px; }
    main { padding:16px 12px; gap:14px; }
    .card { padding:14px; }
    .nodes, .products, .stats { gap:6px; }
    .node, .product { padding:8px; }
    input { min-width:0; flex:1; }
  }
</style>
</head>
<body>
<header>
  <h1>Northwind Outfitters</h1>
  <p>A shop running on <span id="hdr-apps">several</span> app servers behind a load balancer. Kill any of them, or any memcached node: you stay signed in and your cart stays full.</p>
</header>
<main>
  <div class="stack">
    <section class="card" id="account">
      <h2>Account</h2>
      <div id="signed-out" class="row">
        <input id="name" placeholder="Your name" value="Ada" aria-label="name">
        <button id="login">Sign in</button>
      </div>
      <div id="signed-in" class="row" hidden>
        <div>Signed in as <b id="user"></b> · <span class="pill" id="visits">0 visits</span></div>
        <button class="ghost small" id="visit">Count a visit</button>
        <button class="ghost small" id="logout">Sign out</button>
      </div>
      <div id="devices-box" hidden>
        <div class="row" style="justify-content:space-between"><span class="served">Signed in on <b id="device-count">0</b> devices (sign in from another browser to add one)</span><button class="danger small" id="logout-others">Log out other devices</button></div>
        <ul class="cart" id="devices"></ul>
      </div>
      <p class="served">This page's last request was served by <b id="served-by">…</b>. Session <code id="sid">none yet</code>.</p>
    </section>
    <section class="card">
      <h2>Products</h2>
      <div class="products">
        <div class="product"><div class="icon" style="background:linear-gradient(135deg,#0ea5e9,#2563eb)">SJ</div><b>Storm jacket</b><span>€129</span><button class="add" data-item="Storm jacket">Add to cart</button></div>
        <div class="product"><div class="icon" style="background:linear-gradient(135deg,#f59e0b,#b45309)">TB</div><b>Trail boots</b><span>€149</span><button class="add" data-item="Trail boots">Add to cart</button></div>
        <div class="product"><div class="icon" style="background:linear-gradient(135deg,#10b981,#047857)">DP</div><b>Day pack</b><span>€59</span><button class="add" data-item="Day pack">Add to cart</button></div>
      </div>
    </section>
    <section class="card">
      <div class="row" style="justify-content:space-between"><h2 style="margin:0">Cart</h2><button class="ghost small" id="clear">Empty cart</button></div>
      <ul class="cart" id="cart"></ul>
      <p class="served" id="cart-empty">Your cart is empty.</p>
    </section>
  </div>
  <div class="stack">
    <section class="card">
      <h2>App servers <span class="pill" id="lb">load balancer</span> <span class="pill" id="mode">mode</span></h2>
      <div class="nodes" id="apps"></div>
    </section>
    <section class="card">
      <h2><span id="backend">memcached</span> nodes <span class="pill" id="provider">memcached</span></h2>
      <div class="nodes" id="memcached"></div>
    </section>
    <section class="card">
      <h2>Session manager statistics <span class="served" id="stats-from"></span></h2>
      <div class="stats" id="stats"></div>
    </section>
    <section class="card">
      <h2>Events</h2>
      <ul id="log"></ul>
    </section>
  </div>
</main>
<footer>memcached-session-manager demo · sessions survive app and memcached failures</footer>
<script>
const $ = (id) => document.getElementById(id);
let cluster = null, last = null;
// The event log is kept in sessionStorage, so a reload of the page keeps it.
const LOG_KEY = 'msm-demo-log';
function showLog(entry) {
  const li = document.createElement('li');
  li.textContent = entry.at + '  ' + entry.text;
  if (entry.cls) li.className = entry.cls;
  $('log').prepend(li);
}
function savedLog() {
  try { return JSON.parse(sessionStorage.getItem(LOG_KEY) || '[]'); } catch (e) { return []; }
}
function log(text, cls) {
  const entry = { at: new Date().toLocaleTimeString(), text, cls };
  const entries = savedLog().concat([entry]).slice(-200);
  try { sessionStorage.setItem(LOG_KEY, JSON.stringify(entries)); } catch (e) { /* storage full or disabled */ }
  showLog(entry);
}
for (const entry of savedLog()) showLog(entry);
async function call(path, body) {
  const res = await fetch(path, { method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error || res.status + ' ' + res.statusText);
  return json;
}
function render(state) {
  last = state;
  const s = state.session;
  $('signed-out').hidden = !!s.user;
  $('signed-in').hidden = !s.user;
  $('user').textContent = s.user || '';
  $('visits').textContent = s.visits + (s.visits === 1 ? ' visit' : ' visits');
  $('served-by').textContent = state.servedBy;
  $('sid').textContent = s.id || 'none yet';
  $('mode').textContent = state.mode;
  $('cart').innerHTML = '';
  for (const item of s.cart) { const li = document.createElement('li'); li.textContent = item; $('cart').append(li); }
  $('cart-empty').hidden = s.cart.length > 0;
  const c = state.stats.counters;
  const tiles = [
    [c.requestsWithSession, 'requests with session'], [c.backups, 'copies written'], [c.backupsSkippedUnchanged, 'unchanged, not rewritten'],
    [c.takeovers, 'sessions taken over'], [c.memcachedFailovers, 'memcached failovers'], [c.loadsFromMemcached, 'loads from memcached'],
  ];
  $('stats').innerHTML = tiles.map(([v, l]) => '<div class="stat"><b>' + v + '</b><span>' + l + '</span></div>').join('');
  $('stats-from').textContent = '(' + state.servedBy + ')';
  renderCluster();
}
function renderCluster() {
  if (!cluster) return;
  $('lb').textContent = cluster.balancer;
  $('backend').textContent = cluster.backend;
  $('provider').textContent = cluster.memcachedProvider;
  $('hdr-apps').textContent = cluster.apps.length;
  $('apps').innerHTML = cluster.apps.map((a, i) =>
    '<div class="node' + (last && last.servedBy === a.name ? ' current' : '') + '" data-app="' + a.name + '">' +
    '<div class="name"><span class="dot' + (a.alive ? ' up' : '') + '"></span>' + a.name + '</div>' +
    '<div class="meta">port ' + a.port + ' · ' + (a.alive ? 'pid ' + a.pid : 'stopped') + '</div>' +
    '<div class="actions">' + (a.alive ? '<button class="danger small" data-kill-app="' + i + '">Kill</button>' : '<button class="small" data-restart-app="' + i + '">Restart</button>') +
    (last && last.servedBy === a.name ? '<span class="badge">serving you</span>' : '') +
    (last && last.copies.includes(a.name) && a.alive ? '<span class="badge">holds a copy</span>' : '') + '</div></div>').join('');
  $('memcached').parentElement.style.display = cluster.memcached.length === 0 ? 'none' : '';
  const health = last ? last.memcached : {};
  const copies = last ? last.copies : [];
  $('memcached').innerHTML = cluster.memcached.map((m, i) =>
    '<div class="node" data-memcached="' + m.id + '">' +
    '<div class="name"><span class="dot' + (m.alive ? ' up' : '') + '"></span>' + m.id + '</div>' +
    '<div class="meta">port ' + m.port + ' · ' + (m.alive ? (health[m.id] === false ? 'marked down' : 'up') : 'stopped') + '</div>' +
    '<div class="actions">' + (m.alive ? '<button class="danger small" data-kill-memcached="' + i + '">Kill</button>' : '<button class="small" data-restart-memcached="' + i + '">Restart</button>') +
    (copies.includes(m.id) && m.alive ? '<span class="badge">holds a copy</span>' : '') + '</div></div>').join('');
}
function renderDevices(list) {
  $('devices-box').hidden = !last || !last.session.user;
  $('device-count').textContent = list.length;
  $('devices').innerHTML = '';
  for (const d of list) {
    const li = document.createElement('li');
    const seen = d.lastAccess ? new Date(d.lastAccess).toLocaleTimeString() : '?';
    li.textContent = d.handle + ' · signed in ' + new Date(d.createdAt).toLocaleTimeString() + ' · last stored ' + seen + (d.route ? ' · on ' + d.route : '');
    $('devices').append(li);
  }
}
async function refresh() {
  try { cluster = await call('/_demo/state'); } catch (e) { /* the balancer is restarting */ }
  try { render(await call('/api/state')); } catch (e) { log('request failed: ' + e.message, 'error'); }
  if (last && last.session.user) {
    try { renderDevices((await call('/api/devices')).sessions); } catch (e) { log('devices: ' + e.message, 'error'); }
  } else renderDevices([]);
}
async function act(path, body, message) {
  try { const state = await call(path, body); if (state && state.session) render(state); if (message) log(message); }
  catch (e) { log(e.message, 'error'); }
  await refresh();
}
$('login').onclick = () => act('/api/login', { name: $('name').value }, 'signed in as ' + $('name').value);
$('logout').onclick = () => act('/api/logout', {}, 'signed out');
$('visit').onclick = () => act('/api/visit', {});
$('logout-others').onclick = async () => {
  try { log('logged out ' + (await call('/api/logout-others', {})).revoked + ' other device(s)'); } catch (e) { log(e.message, 'error'); }
  await refresh();
};
$('clear').onclick = () => act('/api/cart/clear', {}, 'cart emptied');
for (const b of document.querySelectorAll('.add')) b.onclick = () => act('/api/cart', { item: b.dataset.item }, 'added ' + b.dataset.item);
document.body.addEventListener('click', async (e) => {
  const t = e.target.closest('button'); if (!t) return;
  const d = t.dataset;
  if (d.killApp) await act('/_demo/apps/' + d.killApp + '/kill', {}, 'killed app ' + cluster.apps[d.killApp].name + ' (SIGKILL)');
  if (d.restartApp) await act('/_demo/apps/' + d.restartApp + '/restart', {}, 'restarted app ' + cluster.apps[d.restartApp].name);
  if (d.killMemcached) await act('/_demo/memcached/' + d.killMemcached + '/kill', {}, 'killed memcached ' + cluster.memcached[d.killMemcached].id + ' (SIGKILL)');
  if (d.restartMemcached) await act('/_demo/memcached/' + d.restartMemcached + '/restart', {}, 'restarted memcached ' + cluster.memcached[d.restartMemcached].id + ' (empty)');
});
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
