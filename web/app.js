// Teamwell web client: entry point, hash router and page frame.

import * as api from './api.js';
import * as realtime from './realtime.js';
import * as chat from './chat.js';
import * as alerts from './alerts.js';
import { statusMenu } from './presence.js';
import { h, roleLabel, loadingState } from './ui.js';
import { svg } from './charts.js';
import { sees, navFor, landingFor } from './access.js';
import * as loginView from './views/login.js';
import * as mfaView from './views/mfa.js';
import * as enrolView from './views/mfa-enrol.js';
import * as inviteView from './views/invite.js';
import * as ssoView from './views/sso.js';
import * as clientsView from './views/clients.js';
import * as clientView from './views/client.js';
import * as planView from './views/plan.js';
import * as journeyView from './views/journey.js';
import * as caseloadsView from './views/caseloads.js';
import * as employerContactsView from './views/employer-contacts.js';
import * as employersView from './views/employers.js';
import * as wellbeingView from './views/wellbeing.js';
import * as supervisionView from './views/supervision.js';
import * as supervisionRecordView from './views/supervision-record.js';
import * as superviseeView from './views/supervisee.js';
import * as fidelityView from './views/fidelity.js';
import * as reportsView from './views/reports.js';
import * as evaluationView from './views/evaluation.js';
import * as measureView from './views/measure.js';
import * as alertsView from './views/alerts.js';
import * as myRecordView from './views/my-record.js';
import * as myDocumentsView from './views/documents.js';
import * as usersView from './views/users.js';
import * as teamsView from './views/teams.js';
import * as userView from './views/user.js';
import * as teamView from './views/team.js';
import * as ssoSettingsView from './views/sso-settings.js';
import * as organisationView from './views/organisation.js';
import * as auditView from './views/audit.js';
import * as jobsView from './views/jobs.js';
import * as systemView from './views/system.js';
import * as accountView from './views/account.js';
import * as notificationsView from './views/notifications.js';
import * as messagesView from './views/messages.js';
import * as meetingView from './views/meeting.js';
import * as guestView from './views/guest.js';
import * as meetingsView from './views/meetings.js';
import * as notFoundView from './views/not-found.js';
import * as homeView from './views/home.js';
import * as errorView from './views/error.js';

/*
 * access:
 *   guest   – sign-in page; signed-in users are sent home
 *   public  – anyone (invitations, SSO return)
 *   mfa     – needs a pending MFA challenge
 *   enrol   – signed in and MFA set-up is outstanding
 *   (none)  – signed in, and `page` (access.js) names the person's role
 */
const ROUTES = [
  { pattern: /^\/login$/, view: loginView, access: 'guest' },
  { pattern: /^\/mfa$/, view: mfaView, access: 'mfa' },
  { pattern: /^\/mfa\/enrol$/, view: enrolView, access: 'enrol' },
  { pattern: /^\/invite\/([^/]+)$/, keys: ['token'], view: inviteView, access: 'public' },
  { pattern: /^\/q\/([^/]+)$/, keys: ['token'], view: { render: measureView.renderLink }, access: 'public' },
  { pattern: /^\/guest\/([^/]+)$/, keys: ['token'], view: guestView, access: 'public' },
  { pattern: /^\/sso\/([^/]+)$/, keys: ['code'], view: ssoView, access: 'public' },
  { pattern: /^\/sso\/failed\/([^/]+)$/, keys: ['failure'], view: { render: ssoView.renderFailure }, access: 'public' },
  { pattern: /^\/home$/, view: homeView, page: 'home', nav: 'home' },
  { pattern: /^\/clients$/, view: clientsView, page: 'clients', nav: 'clients', clientRedirect: '#/my-record' },
  { pattern: /^\/clients\/([^/]+)$/, keys: ['id'], view: clientView, page: 'client', nav: 'clients' },
  { pattern: /^\/clients\/([^/]+)\/plan$/, keys: ['id'], view: planView, page: 'plan', nav: 'clients' },
  { pattern: /^\/clients\/([^/]+)\/journey$/, keys: ['id'], view: journeyView, page: 'journey', nav: 'clients' },
  {
    pattern: /^\/clients\/([^/]+)\/measures\/([^/]+)$/,
    keys: ['id', 'instrument'],
    view: measureView,
    page: 'measure',
    nav: 'clients',
  },
  { pattern: /^\/alerts$/, view: alertsView, page: 'alerts', nav: 'alerts' },
  { pattern: /^\/caseloads$/, view: caseloadsView, page: 'caseloads', nav: 'caseloads' },
  { pattern: /^\/employer-contacts$/, view: employerContactsView, page: 'employer-contacts', nav: 'caseloads' },
  // Specialists open it from their navigation; supervisors (who read it) from Caseloads.
  { pattern: /^\/employers$/, view: employersView, page: 'employer-directory', nav: 'employers', navByRole: { supervisor: 'caseloads' } },
  { pattern: /^\/wellbeing$/, view: wellbeingView, page: 'wellbeing', nav: 'wellbeing' },
  { pattern: /^\/supervision$/, view: supervisionView, page: 'supervision', nav: 'supervision' },
  {
    pattern: /^\/supervision\/records\/([^/]+)$/,
    keys: ['id'],
    view: supervisionRecordView,
    page: 'supervision-record',
    // Those who attended find their records on "How are you?"; supervisors theirs on Supervision.
    nav: 'wellbeing',
    navByRole: { supervisor: 'supervision' },
  },
  { pattern: /^\/supervision\/people\/([^/]+)$/, keys: ['id'], view: superviseeView, page: 'supervisee', nav: 'supervision' },
  { pattern: /^\/teams\/([^/]+)\/fidelity$/, keys: ['id'], view: fidelityView, page: 'fidelity', nav: 'supervision' },
  { pattern: /^\/reports$/, view: reportsView, page: 'reports', nav: 'reports' },
  { pattern: /^\/evaluation$/, view: evaluationView, page: 'evaluation', nav: 'reports' },
  { pattern: /^\/evaluation\/([^/]+)$/, keys: ['id'], view: { render: evaluationView.renderTrial }, page: 'evaluation-trial', nav: 'reports' },
  { pattern: /^\/my-record$/, view: myRecordView, page: 'my-record', nav: 'my-record' },
  { pattern: /^\/my-documents$/, view: myDocumentsView, page: 'my-documents', nav: 'my-documents' },
  { pattern: /^\/users$/, view: usersView, page: 'users', nav: 'users' },
  { pattern: /^\/teams$/, view: teamsView, page: 'teams', nav: 'teams' },
  { pattern: /^\/users\/([^/]+)$/, keys: ['id'], view: userView, page: 'user', nav: 'users' },
  { pattern: /^\/teams\/([^/]+)$/, keys: ['id'], view: teamView, page: 'team', nav: 'teams' },
  { pattern: /^\/organisation$/, view: organisationView, page: 'organisation', nav: 'organisation' },
  { pattern: /^\/single-sign-on$/, view: ssoSettingsView, page: 'sso-settings', nav: 'users' },
  { pattern: /^\/audit$/, view: auditView, page: 'audit', nav: 'audit' },
  { pattern: /^\/jobs$/, view: jobsView, page: 'jobs', nav: 'jobs' },
  { pattern: /^\/system$/, view: systemView, page: 'system', nav: 'system' },
  { pattern: /^\/account$/, view: accountView, page: 'account', nav: 'account' },
  { pattern: /^\/notifications$/, view: notificationsView, page: 'notifications', nav: 'notifications' },
  { pattern: /^\/messages$/, view: messagesView, page: 'messages', nav: 'messages' },
  { pattern: /^\/messages\/([^/]+)$/, keys: ['id'], view: messagesView, page: 'messages', nav: 'messages' },
  { pattern: /^\/meetings$/, view: meetingsView, page: 'meetings', nav: 'meetings' },
  { pattern: /^\/meetings\/([^/]+)$/, keys: ['id'], view: meetingView, page: 'meeting', nav: 'clients' },
];

const main = document.getElementById('main');
const nav = document.getElementById('primary-nav');
const account = document.getElementById('account');
const tools = document.getElementById('header-tools');

let navigationId = 0;
let controller = null;
let firstRender = true;
let flash = null;
let returnTo = null;

/* -------------------------------------------------------------- helpers -- */

/**
 * What the router hands each view's render(ctx).
 * @typedef {object} ViewContext
 * @property {Record<string, string>} params  the route's path parameters, decoded
 * @property {URLSearchParams} query  the hash's query string
 * @property {AbortSignal} signal  aborted when the person navigates away
 * @property {import('./api.js').User | null} user  who is signed in (null on public pages)
 * @property {{ message: string, kind: string } | null} flash  a message left by the page before
 * @property {() => boolean} isCurrent  false once the person has navigated away
 * @property {(hash: string) => void} navigate
 * @property {(hash: string) => void} redirect
 * @property {() => void} goHome
 * @property {(message: string, kind?: string) => void} setFlash
 * @property {(root?: HTMLElement) => void} focusHeading
 * @property {() => void} updateTitle
 * @property {(values: Record<string, any>) => void} replaceQuery
 */

function parseHash(hash = window.location.hash) {
  let raw = hash.replace(/^#/, '');
  if (!raw.startsWith('/')) raw = `/${raw}`;
  const q = raw.indexOf('?');
  const path = (q === -1 ? raw : raw.slice(0, q)).replace(/\/+$/, '') || '/';
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  return { path, query };
}

function matchRoute(path) {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const params = {};
    (route.keys || []).forEach((key, i) => {
      try {
        params[key] = decodeURIComponent(match[i + 1]);
      } catch {
        params[key] = match[i + 1];
      }
    });
    return { route, params };
  }
  return null;
}

function homeHash() {
  const user = api.getUser();
  if (!user) return '#/login';
  if (api.isRestricted()) return '#/mfa/enrol';
  return landingFor(user);
}

/**
 * The navigation entry a route lights up for `user`: its `navByRole` entry for their role if
 * it names one, "My record" for a client's own record pages, else its `nav`.
 */
function navOf(route, user) {
  const role = user && user.role;
  if (role && route.navByRole && route.navByRole[role]) return route.navByRole[role];
  return role === 'client' && route.nav === 'clients' ? 'my-record' : route.nav;
}

function allowedFor(route, user) {
  return Boolean(route.page) && sees(user, route.page);
}

/** Change the route, adding a history entry. */
function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

/** Change the route, replacing the current history entry. */
function redirect(hash) {
  window.history.replaceState(window.history.state, '', hash);
  route();
}

function setFlash(message, kind = 'success') {
  flash = message ? { message, kind } : null;
}

function takeFlash() {
  const value = flash;
  flash = null;
  return value;
}

/** After signing in: back to where the user was going, or home. */
function goHome() {
  const target = returnTo;
  returnTo = null;
  if (target && !api.isRestricted()) {
    const found = matchRoute(parseHash(target).path);
    if (found && allowedFor(found.route, api.getUser())) {
      redirect(target);
      return;
    }
  }
  redirect(homeHash());
}

function focusHeading(root = main) {
  const heading = root.querySelector('h1');
  if (!heading) return;
  if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
  heading.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function updateTitle() {
  const heading = main.querySelector('h1');
  const text = heading ? heading.textContent.trim() : '';
  document.title = text ? `${text} – Teamwell` : 'Teamwell';
}

/* --------------------------------------------------------------- header -- */

/*
 * On a phone or a small tablet, staff have more links than fit a short header: the main
 * navigation, caseloads, the status and the account fold behind a "Menu" button (a disclosure:
 * aria-expanded, Escape closes it and gives the button focus back; following a link closes it),
 * leaving the brand, the button, messages and alerts on one row. The stylesheet shows the button
 * only below the desktop layout, so on a desktop everything stays in view. Clients have two
 * links, which fit: their header has no menu.
 */
const header = /** @type {HTMLElement} */ (document.querySelector('.site-header'));
const menuButton = h('button', {
  type: 'button',
  class: 'nav-toggle',
  'aria-expanded': 'false',
  'aria-controls': 'primary-nav account',
  hidden: true,
}, h('span', { class: 'nav-toggle__icon', 'aria-hidden': 'true' }), 'Menu');
document.querySelector('.brand').after(menuButton);

function setMenuOpen(open) {
  menuButton.setAttribute('aria-expanded', String(open));
  header.classList.toggle('site-header--open', open);
}

menuButton.addEventListener('click', () => setMenuOpen(menuButton.getAttribute('aria-expanded') !== 'true'));
header.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || menuButton.getAttribute('aria-expanded') !== 'true') return;
  // The status menu's own Escape closes that menu first.
  if (event.target instanceof Element && event.target.closest('.status-menu__list')) return;
  setMenuOpen(false);
  menuButton.focus();
});

function renderHeader(activeNav) {
  const user = api.getUser();
  const signedIn = api.isSignedIn();
  const restricted = api.isRestricted();

  const items = signedIn && !restricted ? navFor(user) : [];
  nav.replaceChildren();
  if (items.length) {
    nav.append(h('ul', { class: 'nav__list' }, items.map((item) => h('li', { class: 'nav__item' },
      h('a', {
        class: 'nav__link',
        href: item.href,
        'aria-current': item.id === activeNav ? 'page' : undefined,
      }, item.label)))));
  }
  nav.hidden = items.length === 0;
  const folds = items.length > 0 && user.role !== 'client';
  header.classList.toggle('site-header--menu', folds);
  menuButton.hidden = !folds;

  renderTools(signedIn && !restricted, activeNav);

  account.replaceChildren();
  if (signedIn) {
    // Node.append writes a null as the text "null": leave out what this person does not see.
    account.append(...[
      h('p', { class: 'account__who' },
        h('span', { class: 'account__name' }, user.display_name || user.email || 'Signed in'),
        h('span', { class: 'account__role' }, roleLabel(user.role))),
      sees(user, 'account') ? h('a', { class: 'account__link', href: '#/account', 'aria-current': activeNav === 'account' ? 'page' : undefined }, 'Your account') : null,
      sees(user, 'notifications') ? notificationsLink(activeNav === 'notifications') : null,
      h('button', { type: 'button', class: 'button button--secondary button--small', onclick: signOut }, 'Sign out'),
    ].filter(Boolean));
  }
  account.hidden = !signedIn;
}

/**
 * "Notifications" beside the person's name: a bell and the word, the word shown only where
 * there is room (on the narrowest phones the bell alone keeps the header to short rows; the
 * word stays as the link's name for screen readers).
 * @param {boolean} current
 */
function notificationsLink(current) {
  const bell = svg('svg', { class: 'account__icon', viewBox: '0 0 24 24', width: '20', height: '20', 'aria-hidden': 'true', focusable: 'false' },
    svg('path', { d: 'M12 3a6 6 0 0 0-6 6v4l-2 3h16l-2-3V9a6 6 0 0 0-6-6Zm-2 15a2 2 0 0 0 4 0', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linejoin': 'round' }));
  return h('a', { class: 'account__link account__link--notifications', href: '#/notifications', 'aria-current': current ? 'page' : undefined },
    bell, h('span', { class: 'account__link-text' }, 'Notifications'));
}

/*
 * Messages and presence sit beside the main navigation for everyone signed
 * in: the "Messages" link (with the unread count) and the status menu. They
 * are built once and kept up to date by the realtime events.
 */
let messagesLink = null;
let messagesCount = null;
let statusControl = null;
let alertsNav = null;
let alertsLink = null;
let alertsCount = null;
let caseloadsNav = null;
let caseloadsLink = null;

function drawUnread() {
  if (!messagesCount) return;
  const total = chat.totalUnread();
  messagesCount.replaceChildren();
  if (!total) return;
  messagesCount.append(
    h('span', { class: 'unread-badge unread-badge--header', 'aria-hidden': 'true' }, total > 99 ? '99+' : String(total)),
    h('span', { class: 'visually-hidden' }, `(${total} unread)`),
  );
}

/* The "Alerts" link (staff): the number of unacknowledged alerts, red when any is urgent. */
function drawAlerts() {
  if (!alertsCount) return;
  const total = alerts.count();
  const urgent = alerts.urgentCount();
  alertsCount.replaceChildren();
  alertsLink.classList.toggle('alerts-link--urgent', urgent > 0);
  if (!total) return;
  alertsCount.append(
    h('span', { class: ['unread-badge', 'unread-badge--header', urgent ? 'unread-badge--urgent' : null], 'aria-hidden': 'true' },
      total > 99 ? '99+' : String(total)),
    h('span', { class: 'visually-hidden' }, urgent ? `(${total} new, ${urgent} urgent)` : `(${total} new)`),
  );
}

function renderTools(show, activeNav) {
  if (!show) {
    tools.replaceChildren();
    tools.hidden = true;
    return;
  }
  if (!messagesLink) {
    messagesCount = h('span', { class: 'messages-link__count' });
    messagesLink = h('a', { class: 'nav__link messages-link', href: '#/messages' }, 'Messages', messagesCount);
    alertsCount = h('span', { class: 'messages-link__count' });
    alertsLink = h('a', { class: 'nav__link messages-link alerts-link', href: '#/alerts' }, 'Alerts', alertsCount);
    alertsNav = h('nav', { class: 'header-tools__nav', 'aria-label': 'Alerts' }, alertsLink);
    caseloadsLink = h('a', { class: 'nav__link messages-link', href: '#/caseloads' }, 'Caseloads');
    caseloadsNav = h('nav', { class: 'header-tools__nav header-tools__nav--folds', 'aria-label': 'Caseloads' }, caseloadsLink);
    statusControl = statusMenu();
    chat.on('change', ({ what }) => {
      if (what === 'conversations') drawUnread();
    });
    alerts.on(({ what, alert }) => {
      drawAlerts();
      if (what === 'raised') announceAlert(alert);
    });
  }
  if (activeNav === 'messages') messagesLink.setAttribute('aria-current', 'page');
  else messagesLink.removeAttribute('aria-current');
  if (activeNav === 'alerts') alertsLink.setAttribute('aria-current', 'page');
  else alertsLink.removeAttribute('aria-current');
  alertsNav.hidden = !alerts.forMe();
  if (activeNav === 'caseloads') caseloadsLink.setAttribute('aria-current', 'page');
  else caseloadsLink.removeAttribute('aria-current');
  const user = api.getUser();
  caseloadsNav.hidden = !sees(user, 'caseloads');
  drawUnread();
  drawAlerts();
  if (!tools.contains(messagesLink)) {
    tools.replaceChildren(
      h('nav', { class: 'header-tools__nav header-tools__nav--messages', 'aria-label': 'Messaging' }, messagesLink),
      alertsNav,
      caseloadsNav,
      statusControl,
    );
  }
  tools.hidden = false;
}

/*
 * An urgent alert that arrives while the person is elsewhere in Teamwell is
 * announced (role="alert") in a banner under the header until they open the
 * alerts or dismiss it. The Alerts page announces arrivals itself.
 */
const alertBanner = h('div', { class: 'alert-banner', role: 'alert' });
document.querySelector('.site-header').after(alertBanner);

function clearAlertBanner() {
  alertBanner.replaceChildren();
}

function announceAlert(alert) {
  if (!alert || !alert.urgent) return;
  if (parseHash().path === '/alerts') return;
  const dismiss = h('button', { type: 'button', class: 'button button--secondary button--small' }, 'Dismiss');
  dismiss.addEventListener('click', () => {
    clearAlertBanner();
    main.focus();
  });
  alertBanner.replaceChildren(h('div', { class: 'container alert-banner__inner' },
    h('p', { class: 'alert-banner__text' },
      h('strong', {}, 'Urgent alert'),
      alert.client_name ? ` about ${alert.client_name}` : '',
      `: ${alert.detail || 'Open your alerts.'}`),
    h('div', { class: 'button-row' },
      h('a', { class: 'button button--small', href: '#/alerts' }, 'Open alerts'),
      dismiss)));
}

/** Keep the realtime socket open exactly while someone is fully signed in. */
let realtimeUserId = null;

function syncRealtime() {
  const user = api.getUser();
  const live = api.isSignedIn() && !api.isRestricted() && user ? String(user.id) : null;
  if (live !== realtimeUserId) {
    if (realtimeUserId) {
      realtime.disconnect();
      chat.reset();
      alerts.reset();
      clearAlertBanner();
    }
    realtimeUserId = live;
    if (live && alerts.forMe()) alerts.load().catch(() => {});
  }
  if (live) realtime.connect();
}

async function signOut(event) {
  const button = event.currentTarget;
  button.setAttribute('aria-disabled', 'true');
  button.textContent = 'Signing out…';
  realtime.disconnect();
  chat.reset();
  alerts.reset();
  clearAlertBanner();
  realtimeUserId = null;
  await api.logout();
  returnTo = null;
  setFlash('You have signed out.', 'success');
  redirect('#/login');
}

/* --------------------------------------------------------------- render -- */

function show(node, { focus = true } = {}) {
  // Clients (signed in, or answering a questionnaire link) and guests joining a session by
  // link do not see the staff-facing footer.
  const { path: shown } = parseHash();
  document.body.classList.toggle('audience-client',
    api.getUser()?.role === 'client' || shown.startsWith('/q/') || shown.startsWith('/guest/'));
  main.replaceChildren(node);
  main.removeAttribute('aria-busy');
  updateTitle();
  if (focus && !firstRender) focusHeading();
  firstRender = false;
}

function showLoading(message) {
  main.setAttribute('aria-busy', 'true');
  main.replaceChildren(loadingState(message));
}

async function route() {
  navigationId += 1;
  const id = navigationId;
  const isCurrent = () => id === navigationId;
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;

  const { path, query } = parseHash();
  const found = matchRoute(path);
  const access = found ? found.route.access : undefined;
  setMenuOpen(false);
  if (path === '/alerts') clearAlertBanner();

  // After a reload the refresh token can bring the session back.
  if (!api.isSignedIn() && api.hasRefreshToken() && !['public', 'mfa'].includes(access)) {
    renderHeader();
    showLoading('Signing you in…');
    try {
      await api.restoreSession();
    } catch (error) {
      if (!isCurrent()) return;
      renderHeader();
      show(errorView.render({ error, onRetry: () => route() }));
      return;
    }
    if (!isCurrent()) return;
  }

  const user = api.getUser();
  const signedIn = api.isSignedIn();

  if (path === '/') {
    redirect(signedIn ? homeHash() : '#/login');
    return;
  }

  if (!found) {
    renderHeader();
    show(notFoundView.render({ home: signedIn ? homeHash() : '#/login' }));
    return;
  }

  const { route: current, params } = found;

  // Guards.
  if (current.access === 'guest' && signedIn) {
    redirect(homeHash());
    return;
  }
  if (current.access === 'mfa' && !api.hasPendingMfa()) {
    if (signedIn) {
      redirect(homeHash());
    } else {
      setFlash('Your sign-in timed out. Sign in again.', 'info');
      redirect('#/login');
    }
    return;
  }
  if (current.access === 'enrol') {
    if (!signedIn) {
      redirect('#/login');
      return;
    }
    if (!api.isRestricted()) {
      redirect(homeHash());
      return;
    }
  }
  if (!current.access) {
    if (!signedIn) {
      returnTo = window.location.hash;
      redirect('#/login');
      return;
    }
    if (api.isRestricted()) {
      redirect('#/mfa/enrol');
      return;
    }
    if (current.clientRedirect && user.role === 'client') {
      redirect(current.clientRedirect);
      return;
    }
    if (!allowedFor(current, user)) {
      renderHeader(current.nav);
      show(errorView.renderForbidden({ home: homeHash() }));
      return;
    }
  }

  renderHeader(navOf(current, user));

  /** @type {ViewContext} */
  const ctx = {
    params,
    query,
    signal,
    user,
    flash: takeFlash(),
    isCurrent,
    navigate,
    redirect,
    goHome,
    setFlash,
    focusHeading,
    updateTitle,
    /** Rewrite this page's query string without a new history entry. */
    replaceQuery(values) {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(values)) {
        if (value !== undefined && value !== null && value !== '' && value !== 0) search.set(key, String(value));
      }
      const qs = search.toString();
      window.history.replaceState(window.history.state, '', `#${path}${qs ? `?${qs}` : ''}`);
    },
  };

  try {
    let result = current.view.render(ctx);
    if (result && typeof result.then === 'function') {
      showLoading();
      result = await result;
    }
    if (!isCurrent()) return;
    show(result);
  } catch (error) {
    if (!isCurrent() || signal.aborted || (error && error.name === 'AbortError')) return;
    if (error && error.status === 401 && !api.isSignedIn()) {
      returnTo = current.access ? null : window.location.hash;
      setFlash('Your session has ended. Sign in again to continue.', 'info');
      redirect('#/login');
      return;
    }
    if (error && error.status === 404) {
      show(notFoundView.render({ home: homeHash(), detail: error.detail }));
    } else if (error && error.status === 403) {
      show(errorView.renderForbidden({ home: homeHash(), detail: error.detail }));
    } else {
      if (!(error && error.name === 'ApiError')) console.error(error); // eslint-disable-line no-console
      show(errorView.render({ error, onRetry: () => route() }));
    }
  }
}

/* ----------------------------------------------------------------- start -- */

api.authEvents.addEventListener('expired', () => {
  syncRealtime();
  const { path } = parseHash();
  const found = matchRoute(path);
  if (found && !found.route.access) returnTo = window.location.hash;
  setFlash('Your session has ended. Sign in again to continue.', 'info');
  redirect('#/login');
});

api.authEvents.addEventListener('change', () => {
  syncRealtime();
  const found = matchRoute(parseHash().path);
  const user = api.getUser();
  renderHeader(found ? navOf(found.route, user) : undefined);
});

// The skip link targets <main>; stop it being read as a route.
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', () => route());
route();

// The service worker (/sw.js, at the root so that it serves every page): the app shell and an
// offline page when the network is away, and push notifications shown while Teamwell is closed.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
}
