// The credsentry console: plain DOM code, no framework. Everything comes from /api/v1 (see
// collector/README.md); text from agents is only ever set with textContent, never parsed as
// HTML, so a process name cannot inject markup.
'use strict';

const POLL_MS = 2000;
const MAX_ROWS = 1000;
const state = { csrf: '', name: '', pollAfter: '', nextBefore: null, seen: new Set(),
                pollTimer: null, filters: {} };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = state.csrf;
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body || {});
  }
  const res = await fetch('/api/v1/' + path, opts);
  let data = {};
  try { data = await res.json(); } catch (e) { data = { error: 'unreadable answer' }; }
  if (res.status === 401 && path !== 'login' && path !== 'session') showLogin('Your session ended; log in again.');
  return { status: res.status, data };
}

function showError(message) { $('error').textContent = message || ''; }

function showOnly(view) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== view;
}

function showLogin(message) {
  stopPolling();
  state.csrf = '';
  $('nav').hidden = true;
  $('who').hidden = true;
  showOnly('login-view');
  $('login-error').textContent = message || '';
}

function loggedIn(data) {
  state.csrf = data.csrf_token;
  state.name = data.name;
  $('who-name').textContent = 'Logged in as ' + data.name;
  $('who').hidden = false;
  $('nav').hidden = false;
  $('login-error').textContent = '';
  route();
}

async function login(event) {
  event.preventDefault();
  const token = $('token').value;
  const { status, data } = await api('POST', 'login', { token });
  $('token').value = '';
  if (status === 200) {
    loggedIn(data);
  } else if (status === 429) {
    $('login-error').textContent = 'Too many failed logins: wait a minute and try again.';
  } else {
    $('login-error').textContent = 'Login failed (' + status + '): ' + (data.error || 'refused');
  }
}

async function logout() {
  await api('POST', 'logout');
  showLogin('Logged out.');
}

function stopPolling() {
  if (state.pollTimer) clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

function severityCell(sev) { return el('td', { class: 'sev sev-' + sev }, sev); }

function ackText(ack) { return ack ? ack.by + ' at ' + ack.at : ''; }

function alertRow(a, fresh) {
  const tr = el('tr', { class: 'clickable' + (fresh ? ' fresh' : ''), 'data-id': a.id },
    el('td', {}, a.time), severityCell(a.severity), el('td', {}, a.host), el('td', {}, a.kind),
    el('td', {}, a.summary), el('td', { class: 'mono' }, a.redacted),
    el('td', {}, a.destination), el('td', { class: 'ack' }, ackText(a.acknowledged)));
  tr.addEventListener('click', () => { location.hash = '#alert/' + encodeURIComponent(a.id); });
  return tr;
}

function readFilters() {
  const f = {};
  for (const name of ['host', 'kind', 'severity', 'provider', 'since', 'until']) {
    f[name] = $('f-' + name).value.trim();
  }
  return f;
}

async function loadAlerts(older) {
  const params = Object.assign({}, state.filters);
  if (older && state.nextBefore) params.before = state.nextBefore;
  const { status, data } = await api('GET', 'alerts' + query(params));
  if (status !== 200) { $('alerts-status').textContent = data.error || 'failed'; return; }
  const body = $('alerts-body');
  if (!older) { body.replaceChildren(); state.seen.clear(); state.pollAfter = data.poll_after; }
  for (const a of data.alerts) {
    if (state.seen.has(a.id)) continue;
    state.seen.add(a.id);
    body.append(alertRow(a, false));
  }
  state.nextBefore = data.next_before;
  $('more-alerts').hidden = !data.next_before;
  $('alerts-status').textContent = body.children.length + ' alerts shown; new ones appear as they arrive.';
}

async function pollAlerts() {
  if (!state.pollAfter) return;
  const params = Object.assign({}, state.filters, { after: state.pollAfter });
  const { status, data } = await api('GET', 'alerts' + query(params));
  if (status !== 200) return;
  state.pollAfter = data.poll_after;
  const body = $('alerts-body');
  // Newest first in the answer: insert from the oldest so the newest ends on top.
  for (const a of data.alerts.slice().reverse()) {
    if (state.seen.has(a.id)) continue;
    state.seen.add(a.id);
    body.prepend(alertRow(a, true));
  }
  while (body.children.length > MAX_ROWS) body.lastChild.remove();
  $('alerts-status').textContent = body.children.length + ' alerts shown; new ones appear as they arrive.';
}

function showAlerts() {
  showOnly('alerts-view');
  loadAlerts(false);
  stopPolling();
  state.pollTimer = setInterval(pollAlerts, POLL_MS);
}

function kv(pairs) {
  const dl = el('dl', { class: 'kv' });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    dl.append(el('dt', {}, k), el('dd', { class: 'mono' }, Array.isArray(v) ? v.join(', ') : v));
  }
  return dl;
}

function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', { class: 'mono' }, c))))));
}

function nsToTime(ns) {
  if (!ns || ns === '0') return '';
  return new Date(Number(BigInt(ns) / 1000000n)).toISOString();
}

async function showAlert(id) {
  showOnly('alert-view');
  stopPolling();
  const detail = $('alert-detail');
  detail.replaceChildren();
  const { status, data } = await api('GET', 'alerts/' + encodeURIComponent(id));
  if (status !== 200) { $('alert-title').textContent = data.error || 'failed'; return; }
  const a = data.alert || {};
  const p = a.process || {}, s = a.secret || {}, d = a.destination || {}, e = a.evidence || {};
  $('alert-title').textContent = data.summary;
  $('ack-state').textContent = data.acknowledged ? 'Acknowledged by ' + ackText(data.acknowledged) : 'Not acknowledged';
  $('ack-button').hidden = !!data.acknowledged;
  $('ack-button').onclick = async () => {
    const r = await api('POST', 'alerts/' + encodeURIComponent(id) + '/ack');
    if (r.status === 200) showAlert(id); else showError(r.data.error);
  };
  detail.append(
    kv([['Alert id', data.id], ['Time', data.time], ['Received', data.received], ['Host', data.host],
        ['Kind', data.kind], ['Severity', data.severity]]),
    el('h3', {}, 'Secret'),
    kv([['Type', s.type], ['Provider', s.provider], ['Name', s.name], ['Preview', s.redacted],
        ['Fingerprint', s.fingerprint], ['Found in', s.found_in],
        ['Credential rotated', data.credential_rotated ? ackText(data.credential_rotated) : 'no']]),
    el('h3', {}, 'Destination'),
    kv([['Host', d.host], ['Address', d.ip ? d.ip + ':' + (d.port || '') : ''],
        ['Transport', d.transport], ['Named by', d.name_source], ['Expected', d.expected]]),
    el('h3', {}, 'Process'),
    kv([['Command', p.comm], ['PID', p.pid], ['Parent PID', p.ppid], ['UID', p.uid],
        ['Executable', p.exe], ['Command line', p.cmdline], ['Systemd unit', p.systemd_unit],
        ['Container', p.container], ['Pod', p.pod ? [p.pod.namespace, p.pod.name, p.pod.uid].filter(Boolean).join(' / ') : ''],
        ['Cgroup', p.cgroup], ['Credential variables', p.credential_env]]));
  if (p.ancestors && p.ancestors.length) {
    detail.append(el('h3', {}, 'Ancestors (parent first)'),
      table(['PID', 'Command', 'Executable', 'Command line'],
        p.ancestors.map((x) => [x.pid, x.comm, x.exe, x.cmdline])));
  }
  if (a.ci) {
    detail.append(el('h3', {}, 'CI job'),
      kv([['Provider', a.ci.provider], ['Repository', a.ci.repository], ['Workflow', a.ci.workflow],
          ['Run', a.ci.run_id], ['Job', a.ci.job]]));
  }
  if (a.target) {
    detail.append(el('h3', {}, 'Process whose secrets were read'),
      kv([['PID', a.target.pid], ['Command', a.target.comm], ['Executable', a.target.exe],
          ['Access', a.target.access], ['Credential variables', a.target.credential_env]]));
  }
  detail.append(el('h3', {}, 'Evidence'));
  const reads = e.credential_reads || [];
  detail.append(reads.length
    ? table(['Credential read', 'PID', 'Command', 'Time'],
        reads.map((r) => [r.path, r.pid, r.comm, nsToTime(r.time_ns)]))
    : el('p', {}, 'No credential file reads recorded.'));
  detail.append(el('h3', {}, 'Decoding steps'),
    (e.decoding && e.decoding.length)
      ? el('ol', { id: 'decoding' }, ...e.decoding.map((x) => el('li', {}, x)))
      : el('p', {}, 'None: the secret was sent as is.'));
  if (e.notes && e.notes.length) {
    detail.append(el('h3', {}, 'Notes'), el('ul', {}, ...e.notes.map((x) => el('li', {}, x))));
  }
}

async function showHosts() {
  showOnly('hosts-view');
  stopPolling();
  const { status, data } = await api('GET', 'hosts');
  if (status !== 200) { showError(data.error); return; }
  $('hosts-body').replaceChildren(...data.hosts.map((h) => el('tr', {},
    el('td', {}, h.host), el('td', {}, h.last_heartbeat),
    el('td', { class: h.silent ? 'silent' : '' }, h.silent ? 'SILENT' : 'reporting'),
    el('td', {}, h.agent_version), el('td', {}, h.rules_version),
    el('td', { class: 'mono' }, Object.entries(h.drops).map(([k, v]) => k + '=' + v).join(' ')))));
}

async function showCredentials() {
  showOnly('credentials-view');
  stopPolling();
  const { status, data } = await api('GET', 'credentials');
  if (status !== 200) { showError(data.error); return; }
  $('credentials-body').replaceChildren(...data.credentials.map((c) => {
    const tr = el('tr', { class: 'clickable' },
      el('td', { class: 'mono' }, c.fingerprint), el('td', {}, c.type), el('td', { class: 'mono' }, c.redacted),
      el('td', {}, c.storing_hosts + ' hosts'), el('td', {}, c.sending_hosts + ' hosts'),
      el('td', {}, c.first_seen), el('td', {}, c.last_seen), el('td', {}, ackText(c.rotated)));
    tr.addEventListener('click', () => { location.hash = '#credential/' + encodeURIComponent(c.fingerprint); });
    return tr;
  }));
}

async function showCredential(fp) {
  showOnly('credential-view');
  stopPolling();
  const detail = $('credential-detail');
  detail.replaceChildren();
  const { status, data } = await api('GET', 'credentials/' + encodeURIComponent(fp));
  if (status !== 200) { $('credential-title').textContent = data.error || 'failed'; return; }
  $('credential-title').textContent = (data.type || 'credential') + ' ' + data.fingerprint;
  $('rotated-state').textContent = data.rotated ? 'Rotated, marked by ' + ackText(data.rotated) : 'Not marked rotated';
  $('rotated-button').hidden = !!data.rotated;
  $('rotated-button').onclick = async () => {
    const r = await api('POST', 'credentials/' + encodeURIComponent(fp) + '/rotated');
    if (r.status === 200) showCredential(fp); else showError(r.data.error);
  };
  detail.append(
    kv([['Kind', data.type], ['Provider', data.provider], ['Preview', data.redacted],
        ['First sent', data.first_seen], ['Last sent', data.last_seen], ['Alerts', data.alerts]]),
    el('h3', {}, 'Stored on'),
    data.stored_on.length
      ? table(['Host', 'Path', 'Owner UID', 'File modified'],
        data.stored_on.map((s) => [s.host, s.path, s.owner_uid, s.file_modified]))
      : el('p', {}, 'In no host\'s credential inventory.'),
    el('h3', {}, 'Sent from, and to'),
    data.sent.length
      ? table(['Host', 'Destination', 'Alerts', 'Last'],
        data.sent.map((s) => [s.host, s.destination, s.alerts, s.last]))
      : el('p', {}, 'No alert says it left a host.'));
}

async function showAudit() {
  showOnly('audit-view');
  stopPolling();
  const { status, data } = await api('GET', 'audit');
  if (status !== 200) { showError(data.error); return; }
  $('audit-body').replaceChildren(...data.audit.map((e) => el('tr', {},
    el('td', {}, e.at), el('td', {}, e.actor), el('td', {}, e.action),
    el('td', { class: 'mono' }, e.target), el('td', {}, e.client), el('td', {}, e.collector))));
}

function route() {
  if (!state.csrf) return;
  showError('');
  const hash = decodeURIComponent(location.hash.slice(1));
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('current', hash.startsWith(a.dataset.view));
  }
  if (hash.startsWith('alert/')) return showAlert(hash.slice(6));
  if (hash === 'hosts') return showHosts();
  if (hash.startsWith('credential/')) return showCredential(hash.slice(11));
  if (hash === 'credentials') return showCredentials();
  if (hash === 'audit') return showAudit();
  return showAlerts();
}

async function start() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    state.filters = readFilters();
    showAlerts();
  });
  $('more-alerts').addEventListener('click', () => loadAlerts(true));
  window.addEventListener('hashchange', route);
  const { status, data } = await api('GET', 'session');
  if (status === 200) loggedIn(data); else showLogin('');
}

document.addEventListener('DOMContentLoaded', start);
