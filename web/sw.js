// Teamwell's service worker. It keeps the app shell (the page, its scripts and styles) and an
// offline page in a cache, answering from it only when the network fails (a page opened
// offline is the offline page), so a new release is
// picked up at once; it never stores an API answer (they may hold clinical data). It shows the
// push notifications the service sends, whose text is always generic ("You have a new message
// in Teamwell"), and opens their link when one is clicked.

/// <reference lib="webworker" />
/** @type {ServiceWorkerGlobalScope} */
// @ts-ignore - this script runs in a service worker's global scope, not a window's
const worker = self;

const CACHE = 'teamwell-shell-v1';
const OFFLINE = '/static/offline.html';
const SHELL = ['/', OFFLINE, '/static/styles.css', '/static/app.js', '/static/favicon.svg'];

worker.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => worker.skipWaiting()));
});

worker.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== CACHE) await caches.delete(key);
    }
    await worker.clients.claim();
  })());
});

worker.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== worker.location.origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(async () => (await caches.match(OFFLINE)) || Response.error()));
    return;
  }
  if (url.pathname.startsWith('/static/')) {
    event.respondWith(fetch(request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
      }
      return response;
    }).catch(async () => (await caches.match(request)) || Response.error()));
  }
});

/** What the service sends: a title, one generic sentence and the link to open. */
function readPush(data) {
  try {
    const payload = data ? data.json() : {};
    return {
      title: String(payload.title || 'Teamwell'),
      body: String(payload.body || 'You have a new notification in Teamwell.'),
      url: String(payload.url || '/'),
    };
  } catch {
    return { title: 'Teamwell', body: 'You have a new notification in Teamwell.', url: '/' };
  }
}

worker.addEventListener('push', (event) => {
  const notice = readPush(event.data);
  event.waitUntil(worker.registration.showNotification(notice.title, {
    body: notice.body,
    icon: '/static/icon-192.png',
    badge: '/static/icon-192.png',
    data: { url: notice.url },
  }));
});

worker.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || '/', worker.location.origin);
  // Only our own pages are opened: a link elsewhere is replaced by the home page.
  const url = target.origin === worker.location.origin ? target.href : worker.location.origin + '/';
  event.waitUntil((async () => {
    const open = await worker.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = open.find((client) => client.url.split('#')[0] === url.split('#')[0]);
    if (same) {
      await same.focus();
      if ('navigate' in same) await same.navigate(url);
      return;
    }
    await worker.clients.openWindow(url);
  })());
});
