// nsagent web view. Vanilla JS, no build step, no third-party code.
//
// Everything the API returns about processes is attacker-controlled (a
// process picks its own argv[0] and comm), so this file never turns data
// into markup: every value goes through textContent or a Text node, links
// are built from URLSearchParams, and the page's CSP (with Trusted Types)
// makes any innerHTML assignment throw.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const metaContent = (n) => {
    const m = document.querySelector('meta[name="' + n + '"]');
    return m ? m.content : '';
  };
  const API = metaContent('nsagent-api') || '/api/v1';
  const REDACT = metaContent('nsagent-redact') === '1';
  const ROWH = 24; // px; must match .row height in app.css
  const NSTYPES = ['mnt', 'net', 'pid', 'uts', 'ipc', 'user', 'cgroup', 'time'];
  const VIEWS = ['tree', 'namespaces', 'containers', 'cgroups'];
  const CAPS = ['chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid',
    'setpcap', 'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock',
    'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot',
    'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write',
    'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend',
    'audit_read', 'perfmon', 'bpf', 'checkpoint_restore'];
  const FULL_CAPS = (1n << BigInt(CAPS.length)) - 1n;

  // h builds an element. Children that are not Nodes become Text nodes;
  // there is deliberately no way to pass markup.
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const k in props) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k === 'href') e.setAttribute('href', v);
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of kids) {
      if (c == null || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // link builds an in-page link from page parameters; only "?..." URLs
  // are ever produced, so no data can make a javascript: link.
  function link(params, text, cls) {
    const sp = new URLSearchParams();
    for (const k in params) if (params[k] !== '' && params[k] != null && params[k] !== false) sp.set(k, params[k] === true ? '1' : params[k]);
    return h('a', { href: '?' + sp.toString(), class: cls, 'data-nav': '1' }, text);
  }

  function fmtBytes(v) {
    if (v == null) return 'max';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + u[i];
  }
  const short = (id) => (id && id.length > 12 ? id.slice(0, 12) : id || '');

  // ---- state -------------------------------------------------------------

  const S = {
    view: 'tree', q: '', pid: 0, ns: '', container: '', cgroup: '', logical: false, type: '', refresh: null,
    refreshSec: Math.max(0, parseInt(metaContent('nsagent-refresh'), 10) || 5),
    docs: { processes: null, namespaces: null, containers: null, cgroups: null },
    errors: {},
    fetchedAt: {},
    updates: 0,
    paused: false,
    // process tree
    procs: new Map(), // key -> proc
    byPid: new Map(),
    roots: [],
    rows: [],
    open: new Map(), // key -> bool, explicit toggles
    filterOpen: new Map(),
    defaultOpen: true,
    sel: null, // selected key
    prevKeys: null,
    ghosts: new Map(),
    pendingReveal: null, // pid or container to reveal once data arrives
    firstRender: false,
    // namespaces, cgroups
    nsOpen: '',
    cgOpen: new Map(),
    cpuPrev: new Map(),
    cpuRate: new Map(),
  };

  function readURL() {
    const sp = new URLSearchParams(location.search);
    const num = (v) => (/^[0-9]{1,20}$/.test(v || '') ? v : '');
    S.q = (sp.get('q') || '').slice(0, 256);
    S.pid = parseInt(num(sp.get('pid')), 10) || 0;
    S.ns = num(sp.get('ns'));
    S.container = sp.get('container') || '';
    S.cgroup = sp.get('cgroup') || '';
    S.logical = /^(1|t|true|TRUE|True)$/.test(sp.get('logical') || '');
    S.type = NSTYPES.includes(sp.get('type')) ? sp.get('type') : '';
    S.refresh = sp.has('refresh') ? sp.get('refresh') : null;
    if (S.refresh != null) S.refreshSec = Math.max(0, parseInt(S.refresh, 10) || 0);
    let v = sp.get('view');
    if (!VIEWS.includes(v)) {
      v = S.ns || S.type ? 'namespaces' : S.cgroup ? 'cgroups' : S.container ? 'containers' : 'tree';
    }
    S.view = v;
    S.nsOpen = S.ns;
    S.pendingReveal = S.view === 'tree' && (S.pid || S.container) ? { pid: S.pid, container: S.container } : null;
    S.filterOpen.clear();
  }

  function writeURL(push) {
    const sp = new URLSearchParams();
    if (S.view !== 'tree') sp.set('view', S.view);
    if (S.q) sp.set('q', S.q);
    if (S.view === 'tree') {
      const p = S.sel && S.procs.get(S.sel);
      if (p) sp.set('pid', p.pid);
      if (S.logical) sp.set('logical', '1');
    }
    if (S.view === 'namespaces') {
      if (S.type) sp.set('type', S.type);
      if (S.nsOpen) sp.set('ns', S.nsOpen);
    }
    if (S.view === 'containers' && S.container) sp.set('container', S.container);
    if (S.view === 'cgroups' && S.cgroup) sp.set('cgroup', S.cgroup);
    if (S.refresh != null) sp.set('refresh', S.refresh);
    const s = sp.toString();
    const url = s ? '?' + s : location.pathname;
    if (url === location.search || (!s && !location.search)) return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }

  // ---- data --------------------------------------------------------------

  const NEEDS = {
    tree: ['processes', 'containers'],
    namespaces: ['namespaces', 'processes'],
    containers: ['containers', 'cgroups'],
    cgroups: ['cgroups'],
  };

  async function fetchDoc(name) {
    try {
      // The namespaces view wants every column (holders, NSFS, parent,
      // owner) as a flat list; the API's default is plain lsns -J.
      const path = name === 'namespaces' ? 'namespaces?output=all&tree=none' : name;
      const r = await fetch(API + '/' + path, { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!r.ok) {
        const t = (await r.text()).slice(0, 300);
        throw new Error(r.status + ' ' + t.trim());
      }
      const doc = await r.json();
      S.docs[name] = doc;
      if (!S.firstRender) performance.mark('nsagent-parsed-' + name);
      S.fetchedAt[name] = performance.now();
      delete S.errors[name];
      return true;
    } catch (e) {
      S.errors[name] = String(e.message || e);
      return false;
    }
  }

  let timer = 0;
  let inflight = false;
  async function update() {
    clearTimeout(timer);
    if (inflight) return;
    inflight = true;
    const t0 = performance.now();
    const names = NEEDS[S.view];
    const ok = await Promise.all(names.map(fetchDoc));
    inflight = false;
    if (!S.firstRender) performance.mark('nsagent-data');
    names.forEach((n, i) => {
      if (!ok[i]) return;
      if (n === 'processes') { ingestProcesses(); if (!S.firstRender) performance.mark('nsagent-ingested'); }
      if (n === 'cgroups') ingestCPU();
    });
    S.updates++;
    renderView();
    document.body.dataset.updates = String(S.updates);
    showStatus(performance.now() - t0);
    schedule();
  }

  // schedule arms the next update. A hidden tab does not poll (a
  // dashboard left open in the background would scan the host for
  // nothing); it updates as soon as it is shown again.
  function schedule() {
    clearTimeout(timer);
    if (!S.paused && S.refreshSec > 0 && !document.hidden) timer = setTimeout(update, S.refreshSec * 1000);
  }

  function showStatus(ms) {
    const errs = Object.keys(S.errors);
    const b = $('banner');
    if (errs.length) {
      b.hidden = false;
      b.replaceChildren(...errs.map((n) => h('div', null, 'could not load ' + n + ': ' + S.errors[n])));
    } else {
      b.hidden = true;
      b.replaceChildren();
    }
    const when = new Date().toLocaleTimeString();
    const live = S.paused ? 'paused' : S.refreshSec > 0 ? 'live, every ' + S.refreshSec + 's' : 'not live';
    $('status-text').textContent = 'updated ' + when + ' (' + Math.round(ms) + ' ms) · ' + live + (REDACT ? ' · command lines redacted' : '');
    $('live-dot').className = S.paused || S.refreshSec === 0 ? 'off' : errs.length ? 'err' : 'on';
  }

  // ---- processes -----------------------------------------------------------

  const keyOf = (n) => n.pid + '-' + (n.start_ticks || 0);

  // ingestProcesses flattens the API's nested tree into one record per
  // process, keeps the previous update's keys to mark what appeared and
  // what ended, and rebuilds the tree in the current mode.
  function ingestProcesses() {
    const doc = S.docs.processes;
    if (!doc || !Array.isArray(doc.processes)) return;
    const roles = doc.roles || {};
    const ctOf = doc.container_of || {};
    const lpar = doc.logical_parents || {};
    const next = new Map();
    const stack = doc.processes.slice().reverse();
    while (stack.length) {
      const n = stack.pop();
      if (!n || typeof n.pid !== 'number') continue;
      const argv = Array.isArray(n.cmdline) ? n.cmdline : [];
      const comm = String(n.comm || '');
      const p = {
        key: keyOf(n), pid: n.pid, ppid: n.ppid, comm,
        argv: REDACT ? [] : argv,
        cmd: n.kernel ? '[' + comm + ']' : REDACT || !argv.length ? comm : argv.join(' '),
        user: String(n.user || n.uid || ''), uid: n.uid, state: n.state || '', threads: n.threads || 0,
        started: n.started || '', kernel: !!n.kernel,
        ns: n.namespaces || {}, cgroup: n.cgroup || '', cgroups: n.cgroups || [],
        sec: n.security || null,
        role: roles[n.pid] || 'host', ct: ctOf[n.pid] || '',
        lparent: n.pid in lpar ? lpar[n.pid] : null, lc: '',
        children: [], parent: null, depth: 0, newNS: null, ended: false, isNew: false,
      };
      next.set(p.key, p);
      if (Array.isArray(n.children)) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
    // What ended since the last update stays one more round, marked.
    const ghosts = new Map();
    if (S.prevKeys) {
      for (const [k, p] of S.procs) {
        if (!next.has(k) && !p.ended) ghosts.set(k, Object.assign({}, p, { ended: true, isNew: false, children: [] }));
      }
      for (const p of next.values()) p.isNew = !S.prevKeys.has(p.key);
    }
    S.prevKeys = new Set(next.keys());
    for (const [k, g] of ghosts) next.set(k, g);
    S.procs = next;
    buildTree();
  }

  function nsEmpty(ns) {
    for (const k in ns) if (ns[k]) return false;
    return true;
  }

  function buildTree() {
    const byPid = new Map();
    const all = Array.from(S.procs.values()).sort((a, b) => a.pid - b.pid || (a.ended ? 1 : -1));
    for (const p of all) {
      if (!p.ended || !byPid.has(p.pid)) byPid.set(p.pid, p);
      p.children = [];
      p.parent = null;
    }
    let host = {};
    for (const p of all) if (!p.ended && !nsEmpty(p.ns)) { host = p.ns; break; }
    const roots = [];
    for (const p of all) {
      let pp = p.ppid;
      if (S.logical && p.lparent) pp = p.lparent;
      const parent = pp !== p.pid ? byPid.get(pp) : null;
      if (parent && parent !== p) {
        parent.children.push(p);
        p.parent = parent;
      } else {
        roots.push(p);
      }
    }
    // Boundaries are recomputed for the mode shown: in the logical chain a
    // shim's parent is containerd, not PID 1.
    const visit = (p, depth) => {
      p.depth = depth;
      const base = p.parent && !nsEmpty(p.parent.ns) ? p.parent.ns : host;
      let nn = null;
      for (const t of NSTYPES) {
        const a = p.ns[t], b = base[t];
        if (a && b && a !== b) (nn || (nn = {}))[t] = a;
      }
      p.newNS = nn;
      p.newCgroup = p.cgroup && p.cgroup !== (p.parent ? p.parent.cgroup : '/') ? p.cgroup : '';
      p.newSec = p.parent && p.sec && p.parent.sec && postureKey(p.sec) !== postureKey(p.parent.sec);
    };
    const stack = roots.slice().reverse().map((p) => [p, 0]);
    while (stack.length) {
      const [p, d] = stack.pop();
      visit(p, d);
      for (let i = p.children.length - 1; i >= 0; i--) stack.push([p.children[i], d + 1]);
    }
    S.byPid = byPid;
    S.roots = roots;
  }

  const postureKey = (s) => s.seccomp + '/' + s.no_new_privs + '/' + s.cap_eff;

  function capSummary(cap) {
    let v;
    try { v = BigInt(cap || 0); } catch (e) { return '?'; }
    if (v === 0n) return 'no caps';
    if ((v & FULL_CAPS) === FULL_CAPS) return 'all caps';
    let n = 0;
    for (let x = v; x; x >>= 1n) if (x & 1n) n++;
    return n + ' caps';
  }
  function capNames(cap) {
    let v;
    try { v = BigInt(cap || 0); } catch (e) { return []; }
    const out = [];
    for (let i = 0; i < CAPS.length; i++) if (v & (1n << BigInt(i))) out.push('cap_' + CAPS[i]);
    return out;
  }
  const capHex = (cap) => { try { return BigInt(cap || 0).toString(16).padStart(16, '0'); } catch (e) { return '?'; } };

  function containerById(id) {
    const d = S.docs.containers;
    if (!d || !Array.isArray(d.containers) || !id) return null;
    return d.containers.find((c) => c.id === id) ||
      d.containers.find((c) => c.name === id) ||
      (id.length >= 4 ? d.containers.find((c) => c.id.startsWith(id)) : null) || null;
  }

  // matcher returns a predicate for the search box: a number matches a
  // pid or a namespace inode; text matches the name, the command line
  // (unless redacted), the user, the role and the container id or name.
  function procMatcher(q) {
    q = q.trim().toLowerCase();
    if (!q) return null;
    if (/^[0-9]+$/.test(q)) {
      const n = Number(q);
      return (p) => p.pid === n || NSTYPES.some((t) => p.ns[t] === n);
    }
    const cts = new Set();
    const d = S.docs.containers;
    if (d && Array.isArray(d.containers)) {
      for (const c of d.containers) {
        if (c.id.startsWith(q) || String(c.name).toLowerCase().includes(q)) cts.add(c.id);
      }
    }
    // The lower-cased text is built on the first search, not on every
    // update: most updates are never searched.
    const lc = (p) => p.lc || (p.lc = (p.comm + '\u0000' + p.cmd + '\u0000' + p.user + '\u0000' + p.role).toLowerCase());
    return (p) => lc(p).includes(q) || (p.ct && (cts.has(p.ct) || p.ct.startsWith(q)));
  }

  function isOpen(p) {
    if (S.q) {
      const v = S.filterOpen.get(p.key);
      return v === undefined ? true : v;
    }
    const v = S.open.get(p.key);
    if (v !== undefined) return v;
    if (p.comm === 'kthreadd' && p.ppid === 0) return false; // a hundred kernel threads would bury the rest
    return S.defaultOpen;
  }

  // flatten lists the rows to show: all open nodes, or with a search only
  // the matches and their ancestors.
  function flatten() {
    const rows = [];
    const m = procMatcher(S.q);
    const keep = m ? new Set() : null;
    S.matches = 0;
    for (const p of S.procs.values()) {
      p.match = m ? m(p) : false;
      if (!p.match) continue;
      S.matches++;
      for (let a = p; a && !keep.has(a.key); a = a.parent) keep.add(a.key);
    }
    const stack = S.roots.slice().reverse();
    while (stack.length) {
      const p = stack.pop();
      if (keep && !keep.has(p.key)) continue;
      rows.push(p);
      if (p.children.length && isOpen(p)) for (let i = p.children.length - 1; i >= 0; i--) stack.push(p.children[i]);
    }
    return rows;
  }

  // reveal opens every ancestor of p so its row is shown.
  function reveal(p) {
    for (let a = p.parent; a; a = a.parent) {
      if (S.q) S.filterOpen.set(a.key, true);
      else S.open.set(a.key, true);
    }
  }

  function renderTree(opts) {
    const tree = $('tree');
    // Keep the first visible row where it is across updates, so rows that
    // appear above it do not push the view around.
    let anchor = null, anchorOff = 0;
    if (S.rows.length && !(opts && opts.keepScroll === false)) {
      const i = Math.floor(tree.scrollTop / ROWH);
      if (S.rows[i]) { anchor = S.rows[i].key; anchorOff = tree.scrollTop - i * ROWH; }
    }
    if (S.pendingReveal && S.procs.size) {
      const want = S.pendingReveal;
      S.pendingReveal = null;
      let p = null;
      if (want.pid) p = S.byPid.get(want.pid);
      if (!p && want.container) {
        const c = containerById(want.container);
        if (c) p = S.byPid.get(c.pid);
        if (!p && !c) note('no container ' + want.container + ' on this host');
      } else if (!p) {
        note('no process with pid ' + want.pid);
      }
      if (p) {
        reveal(p);
        S.sel = p.key;
        opts = Object.assign({}, opts, { scrollTo: true });
      }
    }
    S.rows = flatten();
    $('tree-spacer').style.height = S.rows.length * ROWH + 'px';
    if (anchor) {
      const j = S.rows.findIndex((p) => p.key === anchor);
      if (j >= 0) tree.scrollTop = j * ROWH + anchorOff;
    }
    if (opts && opts.scrollTo) scrollToSel();
    drawRows();
    const total = S.prevKeys ? S.prevKeys.size : 0;
    $('tree-count').textContent = S.q ? S.matches + ' matching of ' + total + ' processes' : total + ' processes';
    renderDetails();
    if (!S.firstRender && S.procs.size) {
      S.firstRender = true;
      performance.mark('nsagent-first-render');
      document.body.dataset.firstRender = String(Math.round(performance.now()));
    }
  }

  function scrollToSel() {
    const tree = $('tree');
    const i = S.rows.findIndex((p) => p.key === S.sel);
    if (i < 0) return;
    const top = i * ROWH;
    if (top < tree.scrollTop || top + ROWH > tree.scrollTop + tree.clientHeight) {
      tree.scrollTop = Math.max(0, top - Math.floor(tree.clientHeight / 3));
    }
  }

  let drawQueued = false;
  function queueDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; drawRows(); });
  }

  // drawRows renders only the rows in (and just around) the viewport: the
  // page stays smooth with thousands of processes.
  function drawRows() {
    const tree = $('tree');
    const box = $('tree-rows');
    const first = Math.max(0, Math.floor(tree.scrollTop / ROWH) - 10);
    const last = Math.min(S.rows.length, first + Math.ceil((tree.clientHeight || 600) / ROWH) + 20);
    box.style.transform = 'translateY(' + first * ROWH + 'px)';
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) frag.append(rowEl(S.rows[i], i));
    box.replaceChildren(frag);
    tree.setAttribute('aria-activedescendant', S.sel && S.rows.some((p) => p.key === S.sel) ? 'r-' + S.sel : '');
  }

  function badge(cls, text, title) {
    return h('span', { class: 'b ' + cls, title }, text);
  }

  function rowEl(p, i) {
    const open = p.children.length ? isOpen(p) : null;
    let cls = 'row';
    if (p.key === S.sel) cls += ' sel';
    if (p.match) cls += ' match';
    else if (S.q) cls += ' ctx';
    if (p.isNew) cls += ' is-new';
    if (p.ended) cls += ' is-ended';
    if (p.kernel) cls += ' kernel';
    const tw = h('span', { class: 'tw', 'data-toggle': '1' }, open === null ? '' : open ? '▾' : '▸');
    const cmd = h('span', { class: 'cmd', title: p.cmd }, p.cmd);
    const cell = h('span', { class: 'c-cmd' }, tw, cmd);
    cell.style.paddingLeft = 4 + Math.min(p.depth, 40) * 14 + 'px';
    if (p.isNew) cell.append(badge('b-new', 'new', 'appeared since the last update'));
    if (p.ended) cell.append(badge('b-ended', 'ended', 'ended since the last update'));
    if (p.role !== 'host' && p.role !== 'container') cell.append(badge('b-role role-' + p.role, p.role, 'runtime role'));
    if (p.ct && p.role !== 'container') {
      const c = containerById(p.ct);
      cell.append(badge('b-ct', (c ? c.name : short(p.ct)).slice(0, 40), 'container ' + p.ct + (c ? ' (' + c.runtime + ')' : '')));
    }
    if (S.logical && p.lparent != null) cell.append(badge('b-lp', 'real parent ' + p.ppid, 'the kernel\'s parent; shown under its logical parent'));
    else if (!S.logical && p.lparent) cell.append(badge('b-lp', 'logical parent ' + p.lparent, 'started by ' + p.lparent));
    if (p.newNS) {
      for (const t of NSTYPES) {
        if (p.newNS[t]) {
          const b = badge('b-ns ns-' + t, '+' + t, 'enters a new ' + t + ' namespace: ' + p.newNS[t]);
          b.dataset.nsType = t;
          cell.append(b);
        }
      }
    }
    if (p.newCgroup) cell.append(badge('b-cg', 'cgroup ' + p.newCgroup, 'enters cgroup ' + p.newCgroup));
    if (p.newSec && p.sec) {
      if (p.sec.seccomp) cell.append(badge('b-sec', p.sec.seccomp === 2 ? 'seccomp' : 'seccomp strict', 'seccomp mode ' + p.sec.seccomp));
      if (p.sec.no_new_privs) cell.append(badge('b-sec', 'nnp', 'no_new_privs set'));
      cell.append(badge('b-sec', capSummary(p.sec.cap_eff), 'CapEff ' + capHex(p.sec.cap_eff)));
    }
    const row = h('div', {
      class: cls, role: 'treeitem', id: 'r-' + p.key, 'aria-level': p.depth + 1,
      'aria-selected': p.key === S.sel ? 'true' : 'false', 'aria-posinset': i + 1,
      'data-pid': p.pid, 'data-parent': p.parent ? p.parent.pid : 0, 'data-key': p.key,
    }, h('span', { class: 'c-pid' }, String(p.pid)), h('span', { class: 'c-user' }, p.user), cell);
    if (open !== null) row.setAttribute('aria-expanded', open ? 'true' : 'false');
    return row;
  }

  function toggle(p, want) {
    if (!p || !p.children.length) return;
    const v = want === undefined ? !isOpen(p) : want;
    (S.q ? S.filterOpen : S.open).set(p.key, v);
    renderTree();
  }

  function select(p, scroll) {
    if (!p) return;
    S.sel = p.key;
    writeURL(false);
    if (scroll) scrollToSel();
    drawRows();
    renderDetails();
  }

  function renderDetails() {
    const box = $('details');
    const p = S.sel && S.procs.get(S.sel);
    if (!p) { box.hidden = true; box.replaceChildren(); return; }
    box.hidden = false;
    const kids = [];
    kids.push(h('div', { class: 'dhead' }, h('h2', null, p.comm + ' ', h('span', { class: 'hint' }, 'pid ' + p.pid)),
      h('button', { type: 'button', class: 'close', title: 'Close (Esc)', 'aria-label': 'Close details', onclick: () => { S.sel = null; writeURL(false); drawRows(); renderDetails(); } }, '×')));
    if (p.ended) kids.push(h('p', { class: 'warn' }, 'This process ended since the last update.'));
    const dl = h('dl');
    const add = (k, ...v) => dl.append(h('dt', null, k), h('dd', null, ...v));
    if (!REDACT && p.argv.length) add('command', h('ol', { class: 'argv' }, ...p.argv.map((a) => h('li', null, h('code', null, a)))));
    else add('command', h('code', null, p.cmd), REDACT ? h('span', { class: 'hint' }, ' (arguments redacted)') : null);
    add('user', p.user + (p.uid != null ? ' (uid ' + p.uid + ')' : ''));
    add('parent', p.ppid > 0 ? link({ pid: p.ppid, logical: S.logical }, String(p.ppid)) : 'none (' + p.ppid + ')',
      p.lparent != null ? h('span', null, ' · logical parent ', p.lparent ? link({ pid: p.lparent, logical: S.logical }, String(p.lparent)) : 'exited') : null);
    add('state', p.state + ' · ' + p.threads + ' thread' + (p.threads === 1 ? '' : 's'));
    if (p.started) add('started', p.started);
    add('role', p.role);
    if (p.ct) {
      const c = containerById(p.ct);
      add('container', link({ view: 'containers', container: p.ct }, c ? c.name + ' (' + short(c.id) + ', ' + c.runtime + ')' : short(p.ct)));
    }
    kids.push(dl);
    const nsBody = h('tbody');
    for (const t of NSTYPES) {
      if (!p.ns[t]) continue;
      const isNew = p.newNS && p.newNS[t];
      nsBody.append(h('tr', { class: isNew ? 'newns' : null }, h('td', null, t),
        h('td', null, link({ view: 'namespaces', ns: p.ns[t] }, String(p.ns[t]))),
        h('td', null, isNew ? 'entered here' : '')));
    }
    kids.push(h('h3', null, 'namespaces'), nsBody.children.length ? h('table', { class: 'mini' }, nsBody) : h('p', { class: 'hint' }, 'not readable'));
    kids.push(h('h3', null, 'cgroup'), p.cgroup ? link({ view: 'cgroups', cgroup: p.cgroup }, p.cgroup) : h('span', { class: 'hint' }, 'unknown'));
    if (p.sec) {
      const s = p.sec;
      const caps = capNames(s.cap_eff);
      kids.push(h('h3', null, 'security'), h('dl', null,
        h('dt', null, 'seccomp'), h('dd', null, ['disabled', 'strict', 'filter'][s.seccomp] || String(s.seccomp), s.seccomp_filters ? ' (' + s.seccomp_filters + ' filters)' : ''),
        h('dt', null, 'no_new_privs'), h('dd', null, s.no_new_privs ? 'set' : 'not set'),
        h('dt', null, 'CapEff'), h('dd', null, h('code', null, capHex(s.cap_eff)), ' ' + capSummary(s.cap_eff),
          caps.length && caps.length < CAPS.length ? h('details', null, h('summary', null, 'list'), h('ul', { class: 'caps' }, ...caps.map((c) => h('li', null, c)))) : null)));
    }
    box.replaceChildren(...kids);
  }

  function note(msg) {
    const b = $('banner');
    b.hidden = false;
    b.append(h('div', { class: 'note' }, msg));
  }

  // ---- namespaces ------------------------------------------------------------

  function renderNamespaces() {
    const doc = S.docs.namespaces;
    const body = $('nstable').tBodies[0];
    if (!doc || !Array.isArray(doc.namespaces)) { body.replaceChildren(); return; }
    $('nstype').value = S.type;
    const all = nsList(doc);
    const q = S.q.trim().toLowerCase();
    const num = /^[0-9]+$/.test(q) ? Number(q) : null;
    const list = all.filter((n) => {
      if (S.type && n.type !== S.type) return false;
      if (!q) return true;
      if (num !== null) return n.ns === num || n.pid === num || n.pns === num || n.ons === num;
      return [n.type, n.command, n.user, n.nsfs, n.holders].some((v) => v != null && String(v).toLowerCase().includes(q));
    });
    const frag = document.createDocumentFragment();
    let openRow = null;
    for (const n of list) {
      const key = String(n.ns);
      const orphan = !n.nprocs;
      const tr = h('tr', { class: 'nsrow' + (orphan ? ' orphan' : '') + (S.nsOpen === key ? ' open' : ''), id: 'ns-' + n.type + '-' + key, tabindex: 0, 'data-ns': key, 'aria-expanded': S.nsOpen === key ? 'true' : 'false' },
        h('td', null, key), h('td', null, h('span', { class: 'b ns-' + n.type }, String(n.type))),
        h('td', { class: 'num' }, String(n.nprocs || 0)),
        h('td', { class: 'num' }, n.pid ? String(n.pid) : ''),
        h('td', { class: 'opt' }, n.user != null ? String(n.user) : ''),
        h('td', null, orphan ? h('span', { class: 'b b-orphan', title: 'no process is in this namespace' }, 'no process') : null, ' ' + (n.holders || '')),
        h('td', { class: 'opt' }, n.nsfs ? String(n.nsfs) : ''),
        h('td', { class: 'cmdcell', title: REDACT ? '' : String(n.command || '') }, REDACT ? '' : String(n.command || '')));
      frag.append(tr);
      if (S.nsOpen === key) { frag.append(nsDetail(n)); openRow = tr; }
    }
    body.replaceChildren(frag);
    $('ns-count').textContent = list.length + ' of ' + all.length + ' namespaces';
    if (openRow && S.nsScroll) { S.nsScroll = false; openRow.scrollIntoView({ block: 'center' }); }
  }

  // nsList flattens an lsns -J document: `lsns -J` nests namespaces by
  // process ("children"), `lsns -J -l` does not; either may come.
  function nsList(doc) {
    if (doc === S.nsListDoc) return S.nsListCache;
    const out = [];
    const stack = doc.namespaces.slice().reverse();
    while (stack.length) {
      const n = stack.pop();
      if (!n || typeof n !== 'object') continue;
      out.push(n);
      if (Array.isArray(n.children)) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
    out.sort((a, b) => a.ns - b.ns);
    S.nsListDoc = doc;
    S.nsListCache = out;
    return out;
  }

  function nsDetail(n) {
    const members = [];
    for (const p of S.procs.values()) if (!p.ended && p.ns[n.type] === n.ns) members.push(p);
    members.sort((a, b) => a.pid - b.pid);
    const td = h('td', { colspan: 8 });
    const dl = h('dl');
    const add = (k, ...v) => dl.append(h('dt', null, k), h('dd', null, ...v));
    add('held by', n.holders || (members.length ? 'process' : 'nothing nsagent can see'), n.nsfs ? h('span', null, ' · bind mount ', h('code', null, String(n.nsfs))) : null);
    if (n.pns) add('parent', link({ view: 'namespaces', ns: n.pns }, String(n.pns)));
    if (n.ons) add('owner (user ns)', link({ view: 'namespaces', ns: n.ons }, String(n.ons)));
    if (n.netnsid != null && n.netnsid !== '') add('netnsid', String(n.netnsid));
    if (n.path) add('path', h('code', null, String(n.path)));
    td.append(dl, h('h3', null, members.length + ' member process' + (members.length === 1 ? '' : 'es')));
    const ul = h('ul', { class: 'members' });
    for (const p of members.slice(0, 500)) ul.append(h('li', null, link({ pid: p.pid }, String(p.pid)), ' ', h('span', { class: 'cmd' }, p.cmd)));
    if (members.length > 500) ul.append(h('li', { class: 'hint' }, '… and ' + (members.length - 500) + ' more'));
    if (!members.length) ul.append(h('li', { class: 'warn' }, 'No process is in this namespace; it is kept alive by ' + (n.holders || 'something nsagent cannot see') + '.'));
    td.append(ul);
    return h('tr', { class: 'nsdetail' }, td);
  }

  // ---- containers ------------------------------------------------------------

  function cgroupByPath() {
    const m = new Map();
    const d = S.docs.cgroups;
    if (d && Array.isArray(d.groups)) for (const g of d.groups) m.set(g.path, g);
    return m;
  }

  function ingestCPU() {
    const d = S.docs.cgroups;
    if (!d || !Array.isArray(d.groups)) return;
    const now = performance.now();
    for (const g of d.groups) {
      if (!g.cpu) continue;
      const prev = S.cpuPrev.get(g.path);
      if (prev && now > prev.t) S.cpuRate.set(g.path, (g.cpu.usage_ns - prev.ns) / ((now - prev.t) * 1e6));
      S.cpuPrev.set(g.path, { t: now, ns: g.cpu.usage_ns });
    }
  }

  // bar draws usage against a limit; with no limit it shows the usage
  // alone, since a bar against "max" would always look empty.
  function bar(label, used, limit, fmt) {
    const pct = limit ? Math.min(100, (used / limit) * 100) : 0;
    const fill = h('span', { class: 'fill' + (pct >= 90 ? ' hot' : pct >= 70 ? ' warm' : '') });
    fill.style.width = pct.toFixed(1) + '%';
    const text = used == null ? (label === 'cpu' ? 'measuring… / ' + (limit ? fmt(limit) : 'no limit') : 'n/a') : fmt(used) + ' / ' + (limit ? fmt(limit) : 'no limit') + (limit ? ' (' + pct.toFixed(0) + '%)' : '');
    return h('div', { class: 'meter', title: label + ': ' + text, role: 'meter', 'aria-label': label,
      'aria-valuemin': 0, 'aria-valuemax': limit || 0, 'aria-valuenow': used || 0 },
      h('span', { class: 'mlabel' }, label), h('span', { class: 'track' + (limit ? '' : ' nolimit') }, fill), h('span', { class: 'mtext' }, text));
  }

  function cpuText(rate, quota, period) {
    const lim = quota != null && period ? quota / period : null;
    return { used: rate, limit: lim, fmt: (v) => v.toFixed(2) + ' cpu' };
  }

  function renderContainers() {
    const d = S.docs.containers;
    const list = $('ctlist');
    const fbox = $('findings');
    if (!d) { list.replaceChildren(); return; }
    const cgs = cgroupByPath();
    const q = S.q.trim().toLowerCase();
    const cts = (d.containers || []).filter((c) => !q || c.id.startsWith(q) || [c.name, c.image, c.runtime, String(c.pid)].some((v) => v && String(v).toLowerCase().includes(q)));
    fbox.replaceChildren(...(d.findings || []).map((f) => h('div', { class: 'finding' }, h('span', { class: 'b b-orphan' }, String(f.kind)), ' ', String(f.message))),
      ...(d.errors || []).map((e) => h('div', { class: 'finding' }, h('span', { class: 'b b-ended' }, 'error'), ' ', String(e))));
    if (!cts.length) {
      list.replaceChildren(h('p', { class: 'hint' }, (d.containers || []).length ? 'No container matches the search.' : 'No containers on this host.'));
      return;
    }
    let target = null;
    const sel = S.container ? containerById(S.container) : null;
    list.replaceChildren(...cts.map((c) => {
      const g = cgs.get(c.cgroup);
      const card = h('article', { class: 'card' + (sel === c ? ' sel' : ''), id: 'ct-' + c.id, 'data-container': c.id, tabindex: 0 });
      if (sel === c) target = card;
      card.append(h('h3', null, String(c.name), ' ', h('span', { class: 'hint' }, short(c.id)), ' ',
        h('span', { class: 'b b-role' }, String(c.runtime)), c.kind ? h('span', { class: 'b' }, String(c.kind)) : null,
        c.security && c.security.privileged ? h('span', { class: 'b b-ended' }, 'privileged') : null));
      if (c.pod) card.append(h('p', { class: 'hint' }, 'pod ' + c.pod.namespace + '/' + c.pod.name));
      const dl = h('dl');
      const add = (k, ...v) => dl.append(h('dt', null, k), h('dd', null, ...v));
      if (c.image) add('image', String(c.image));
      add('init', link({ view: 'tree', logical: true, pid: c.pid }, String(c.pid)), c.shim_pid ? h('span', null, ' · shim ', link({ view: 'tree', logical: true, pid: c.shim_pid }, String(c.shim_pid))) : null);
      add('processes', String(c.process_count));
      add('cgroup', link({ view: 'cgroups', cgroup: c.cgroup }, String(c.cgroup)));
      card.append(dl);
      const mem = g && g.memory ? g.memory.usage_bytes : null;
      const pids = g && g.pids ? g.pids.current : null;
      const cpu = cpuText(S.cpuRate.get(c.cgroup), c.cpu_quota_us, c.cpu_period_us);
      card.append(h('div', { class: 'meters' },
        bar('memory', mem, c.memory_limit_bytes, fmtBytes),
        bar('cpu', cpu.used, cpu.limit, cpu.fmt),
        bar('pids', pids, c.pids_limit, String)));
      const nsl = h('div', { class: 'nslist' });
      const shared = new Set(c.shared_with_host || []);
      for (const t of NSTYPES) {
        const ino = c.namespaces && c.namespaces[t];
        if (!ino) continue;
        nsl.append(link({ view: 'namespaces', ns: ino }, (shared.has(t) ? t + ': host' : '+' + t + ' ' + ino), 'b ns-' + t + (shared.has(t) ? ' shared' : '')), ' ');
      }
      card.append(h('h4', null, 'namespaces'), nsl);
      if (c.security) {
        card.append(h('p', { class: 'sec' }, 'seccomp ' + (['disabled', 'strict', 'filter'][c.security.seccomp] || c.security.seccomp) +
          ' · no_new_privs ' + (c.security.no_new_privs ? 'set' : 'not set') + ' · CapEff ' + c.security.cap_eff));
      }
      if (c.entrants && c.entrants.length) {
        card.append(h('h4', null, 'entered from outside'), h('ul', null, ...c.entrants.map((e) =>
          h('li', null, link({ pid: e.pid, logical: true }, String(e.pid)), ' via ' + e.via + ' ', h('code', null, REDACT ? '' : String(e.command || ''))))));
      }
      card.append(h('p', null, link({ view: 'tree', logical: true, container: c.id }, 'show its subtree in the process tree →', 'subtree')));
      return card;
    }));
    if (target && S.ctScroll) { S.ctScroll = false; target.scrollIntoView({ block: 'start' }); }
  }

  // ---- cgroups -----------------------------------------------------------------

  function renderCgroups() {
    const d = S.docs.cgroups;
    const body = $('cgtable').tBodies[0];
    if (!d || !Array.isArray(d.groups)) { body.replaceChildren(); return; }
    $('cg-mode').textContent = 'cgroup mode: ' + (d.mode || 'unknown') + ' · ' + d.groups.length + ' cgroups';
    const groups = d.groups.slice().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const byPath = new Map(groups.map((g) => [g.path, { g, kids: [], parent: null }]));
    const roots = [];
    for (const [p, n] of byPath) {
      let parent = null;
      for (let q = p; q !== '/' && !parent;) {
        q = q.slice(0, q.lastIndexOf('/')) || '/';
        parent = byPath.get(q) || null;
      }
      if (parent && parent !== n) { parent.kids.push(n); n.parent = parent; } else roots.push(n);
    }
    const q = S.q.trim().toLowerCase();
    let keep = null;
    if (q) {
      keep = new Set();
      for (const n of byPath.values()) if (n.g.path.toLowerCase().includes(q)) for (let a = n; a && !keep.has(a); a = a.parent) keep.add(a);
    }
    if (S.cgroup) for (let a = byPath.get(S.cgroup); a; a = a.parent) if (a.parent) S.cgOpen.set(a.parent.g.path, true);
    const frag = document.createDocumentFragment();
    let target = null;
    const walk = (n, depth) => {
      if (keep && !keep.has(n)) return;
      const g = n.g;
      const open = keep ? true : S.cgOpen.has(g.path) ? S.cgOpen.get(g.path) : depth < 1;
      const name = depth === 0 ? g.path : g.path.slice(g.path.lastIndexOf('/') + 1);
      const cell = h('td', { class: 'cgpath', title: g.path },
        h('span', { class: 'tw', 'data-cgtoggle': g.path }, n.kids.length ? (open ? '▾' : '▸') : ''), name);
      cell.style.paddingLeft = 4 + Math.min(depth, 30) * 14 + 'px';
      const m = g.memory, c = g.cpu, pi = g.pids;
      const cpu = c ? cpuText(S.cpuRate.get(g.path), c.quota_us, c.period_us) : null;
      const tr = h('tr', { class: 'cgrow' + (S.cgroup === g.path ? ' sel' : ''), 'data-cgroup': g.path, tabindex: 0, 'aria-expanded': n.kids.length ? String(open) : null },
        cell, h('td', { class: 'num' }, String(g.procs || 0)),
        h('td', null, m ? bar('memory', m.usage_bytes, m.limit_bytes, fmtBytes) : ''),
        h('td', null, cpu ? bar('cpu', cpu.used, cpu.limit, cpu.fmt) : ''),
        h('td', null, pi ? bar('pids', pi.current, pi.max, String) : ''),
        h('td', { class: 'num opt' }, m ? String(m.oom_kills || 0) : ''));
      if (S.cgroup === g.path) target = tr;
      frag.append(tr);
      if (open) for (const k of n.kids) walk(k, depth + 1);
    };
    for (const r of roots) walk(r, 0);
    body.replaceChildren(frag);
    if (target && S.cgScroll) { S.cgScroll = false; target.scrollIntoView({ block: 'center' }); }
  }

  // ---- view switching and events ---------------------------------------------

  function renderView() {
    for (const v of VIEWS) {
      $('view-' + v).hidden = v !== S.view;
      const tab = $('tab-' + v);
      tab.setAttribute('aria-selected', v === S.view ? 'true' : 'false');
    }
    $('logical').checked = S.logical;
    if (S.view === 'tree') renderTree();
    else if (S.view === 'namespaces') renderNamespaces();
    else if (S.view === 'containers') renderContainers();
    else renderCgroups();
  }

  function navigate(search, push) {
    if (push) history.pushState(null, '', search || location.pathname);
    readURL();
    $('q').value = S.q;
    $('banner').hidden = true;
    S.nsScroll = S.ctScroll = S.cgScroll = true;
    const need = NEEDS[S.view].filter((n) => !S.docs[n]);
    renderView();
    if (need.length) update();
  }

  let searchTimer = 0;
  function onSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const v = $('q').value.slice(0, 256);
      if (v === S.q) return;
      S.q = v;
      S.filterOpen.clear();
      writeURL(false);
      if (S.view === 'tree') renderTree({ keepScroll: false });
      else renderView();
    }, 120);
  }

  function rowFromEvent(e) {
    const r = e.target.closest('.row');
    return r ? S.procs.get(r.dataset.key) : null;
  }

  function onTreeKey(e) {
    if (!S.rows.length) return;
    let i = S.rows.findIndex((p) => p.key === S.sel);
    const page = Math.max(1, Math.floor($('tree').clientHeight / ROWH) - 1);
    const cur = S.rows[i];
    let handled = true;
    switch (e.key) {
      case 'ArrowDown': i = Math.min(S.rows.length - 1, i + 1); break;
      case 'ArrowUp': i = Math.max(0, i - 1); break;
      case 'PageDown': i = Math.min(S.rows.length - 1, i + page); break;
      case 'PageUp': i = Math.max(0, i - page); break;
      case 'Home': i = 0; break;
      case 'End': i = S.rows.length - 1; break;
      case 'ArrowRight':
        if (cur && cur.children.length && !isOpen(cur)) { toggle(cur, true); i = -2; } else if (cur && cur.children.length) i++;
        break;
      case 'ArrowLeft':
        if (cur && cur.children.length && isOpen(cur)) { toggle(cur, false); i = -2; } else if (cur && cur.parent) i = S.rows.indexOf(cur.parent);
        break;
      case 'Enter': case ' ':
        if (cur) toggle(cur);
        i = -2;
        break;
      case 'Escape':
        S.sel = null; writeURL(false); drawRows(); renderDetails(); i = -2;
        break;
      default: handled = false;
    }
    if (!handled) return;
    e.preventDefault();
    if (i === -1) i = 0;
    if (i >= 0 && S.rows[i]) select(S.rows[i], true);
  }

  function init() {
    readURL();
    $('q').value = S.q;
    const tree = $('tree');
    tree.addEventListener('scroll', queueDraw, { passive: true });
    window.addEventListener('resize', queueDraw);
    tree.addEventListener('click', (e) => {
      const p = rowFromEvent(e);
      if (!p) return;
      if (e.target.closest('[data-toggle]')) toggle(p);
      else select(p, false);
      tree.focus({ preventScroll: true });
    });
    tree.addEventListener('dblclick', (e) => { const p = rowFromEvent(e); if (p && !e.target.closest('[data-toggle]')) toggle(p); });
    tree.addEventListener('keydown', onTreeKey);
    $('searchform').addEventListener('submit', (e) => { e.preventDefault(); onSearch(); });
    $('q').addEventListener('input', onSearch);
    $('q').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { $('q').value = ''; onSearch(); }
      if (e.key === 'ArrowDown' && S.view === 'tree') { e.preventDefault(); tree.focus(); if (!S.sel && S.rows[0]) select(S.rows[0], true); }
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === '/' && !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) { e.preventDefault(); $('q').focus(); }
    });
    $('logical').addEventListener('change', (e) => {
      S.logical = e.target.checked;
      buildTree();
      writeURL(false);
      renderTree({ scrollTo: true });
    });
    $('expand-all').addEventListener('click', () => { S.defaultOpen = true; S.open.clear(); S.filterOpen.clear(); renderTree(); });
    $('collapse-all').addEventListener('click', () => { S.defaultOpen = false; S.open.clear(); S.filterOpen.clear(); $('tree').scrollTop = 0; renderTree({ keepScroll: false }); });
    $('pause').addEventListener('click', () => {
      S.paused = !S.paused;
      $('pause').textContent = S.paused ? 'resume' : 'pause';
      if (S.paused) clearTimeout(timer); else update();
      showStatus(0);
    });
    $('nstype').addEventListener('change', (e) => { S.type = e.target.value; writeURL(false); renderNamespaces(); });
    $('nstable').addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      const tr = e.target.closest('tr.nsrow');
      if (!tr) return;
      S.nsOpen = S.nsOpen === tr.dataset.ns ? '' : tr.dataset.ns;
      writeURL(false);
      renderNamespaces();
    });
    $('nstable').addEventListener('keydown', (e) => {
      const tr = e.target.closest('tr.nsrow');
      if (!tr) return;
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); tr.click(); const again = $(tr.id); if (again) again.focus(); }
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        let n = tr;
        do { n = e.key === 'ArrowDown' ? n.nextElementSibling : n.previousElementSibling; } while (n && !n.classList.contains('nsrow'));
        if (n) n.focus();
      }
    });
    $('cgtable').addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      const tr = e.target.closest('tr.cgrow');
      if (!tr) return;
      const path = tr.dataset.cgroup;
      if (e.target.closest('[data-cgtoggle]')) {
        S.cgOpen.set(path, tr.getAttribute('aria-expanded') !== 'true');
      } else {
        S.cgroup = S.cgroup === path ? '' : path;
        writeURL(false);
      }
      renderCgroups();
    });
    $('cgtable').addEventListener('keydown', (e) => {
      const tr = e.target.closest('tr.cgrow');
      if (!tr) return;
      const path = tr.dataset.cgroup;
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft' || e.key === 'Enter') {
        e.preventDefault();
        S.cgOpen.set(path, e.key === 'Enter' ? tr.getAttribute('aria-expanded') !== 'true' : e.key === 'ArrowRight');
        renderCgroups();
        const again = document.querySelector('tr.cgrow[data-cgroup="' + CSS.escape(path) + '"]');
        if (again) again.focus();
      }
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
        if (n) n.focus();
      }
    });
    // In-page links change the view without reloading, so the data already
    // fetched and the open nodes survive.
    document.addEventListener('click', (e) => {
      const a = e.target.closest('a[data-nav], #tabs a, #home');
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      const u = new URL(a.href, location.href);
      navigate(u.search, true);
    });
    window.addEventListener('popstate', () => navigate(location.search, false));
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) clearTimeout(timer);
      else if (!S.paused && S.refreshSec > 0) update();
    });
    S.nsScroll = S.ctScroll = S.cgScroll = true;
    renderView();
    update();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
