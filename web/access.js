// Who sees which page and navigation entry of the web client, in one place.
//
// Each page names the roles that may open it and the server operations it
// needs to show anything ("METHOD /path/template", the first one being the
// page's main operation). tests/web/test_web_access.py reads the object between
// the ACCESS markers as JSON and checks it against the server's permission
// table: no role is shown a page whose operations it may not call, and every
// role that may call a navigation entry's main operation sees the entry, sees
// it elsewhere (`elsewhere`: role -> the page where that role finds it), or is
// named in `notShownTo` with the reason. Keep the object plain JSON.

// ACCESS BEGIN
export const ACCESS = {
  "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin", "client"],
  "landing": {
    "peer_keyworker": "home",
    "therapist": "home",
    "employment_specialist": "home",
    "supervisor": "home",
    "admin": "home",
    "client": "home"
  },
  "nav": ["home", "clients", "meetings", "my-record", "my-documents", "employers", "users", "teams", "organisation", "supervision", "reports", "audit", "jobs", "system", "wellbeing"],
  "tools": ["messages", "alerts", "caseloads"],
  "pages": {
    "home": {
      "label": "Home", "href": "#/home",
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin", "client"],
      "needs": ["GET /api/v1/me/today"]
    },
    "clients": {
      "label": "Clients", "href": "#/clients",
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/clients"],
      "elsewhere": {"client": "my-record"}
    },
    "client": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "client"],
      "needs": ["GET /api/v1/clients/{client_id}", "GET /api/v1/clients/{client_id}/documents"]
    },
    "plan": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "client"],
      "needs": ["GET /api/v1/clients/{client_id}/plan", "GET /api/v1/clients/{client_id}", "GET /api/v1/clients/{client_id}/plan/comments"]
    },
    "journey": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/clients/{client_id}/journey", "GET /api/v1/clients/{client_id}"]
    },
    "measure": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "client"],
      "needs": ["GET /api/v1/instruments", "GET /api/v1/clients/{client_id}"]
    },
    "meetings": {
      "label": "Meetings", "href": "#/meetings",
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/meetings"],
      "elsewhere": {"client": "my-record", "admin": "wellbeing"}
    },
    "meeting": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "client"],
      "needs": ["GET /api/v1/meetings/{meeting_id}"]
    },
    "my-record": {
      "label": "My record", "href": "#/my-record",
      "roles": ["client"],
      "needs": ["GET /api/v1/clients", "GET /api/v1/clients/{client_id}", "GET /api/v1/meetings"],
      "elsewhere": {"peer_keyworker": "clients", "therapist": "clients", "employment_specialist": "clients", "supervisor": "clients"}
    },
    "my-documents": {
      "label": "My documents", "href": "#/my-documents",
      "roles": ["client"],
      "needs": ["GET /api/v1/clients/{client_id}/documents", "GET /api/v1/clients"],
      "elsewhere": {"peer_keyworker": "client", "therapist": "client", "employment_specialist": "client", "supervisor": "client"}
    },
    "users": {
      "label": "Users", "href": "#/users",
      "roles": ["admin"],
      "needs": ["GET /api/v1/users", "GET /api/v1/invitations", "GET /api/v1/teams"],
      "notShownTo": {
        "peer_keyworker": "Staff read the people list only to choose a colleague (a care team's new member); managing people and invitations is the admin's.",
        "therapist": "Staff read the people list only to choose a colleague (a care team's new member); managing people and invitations is the admin's.",
        "employment_specialist": "Staff read the people list only to choose a colleague (a care team's new member); managing people and invitations is the admin's.",
        "supervisor": "Staff read the people list only to choose a colleague (a care team's new member); managing people and invitations is the admin's."
      }
    },
    "user": {
      "roles": ["admin"],
      "needs": ["GET /api/v1/users/{user_id}", "GET /api/v1/users/{user_id}/supervisor", "GET /api/v1/users/{user_id}/notification-status"]
    },
    "teams": {
      "label": "Teams", "href": "#/teams",
      "roles": ["admin"],
      "needs": ["GET /api/v1/teams"],
      "notShownTo": {
        "peer_keyworker": "Staff read the teams only to choose one (a referral's team, a team conversation); making and changing teams is the admin's.",
        "therapist": "Staff read the teams only to choose one (a referral's team, a team conversation); making and changing teams is the admin's.",
        "employment_specialist": "Staff read the teams only to choose one (a referral's team, a team conversation); making and changing teams is the admin's.",
        "supervisor": "Staff read the teams only to choose one (a referral's team, a team conversation); making and changing teams is the admin's."
      }
    },
    "team": {
      "roles": ["admin"],
      "needs": ["GET /api/v1/teams/{team_id}", "GET /api/v1/teams/{team_id}/members"]
    },
    "organisation": {
      "label": "Organisation", "href": "#/organisation",
      "roles": ["admin"],
      "needs": ["GET /api/v1/organisations/{organisation_id}", "GET /api/v1/organisations"],
      "notShownTo": {
        "peer_keyworker": "Staff see an organisation by its name only (recording consent, a partner's member of a team); its details and partners are the admin's to manage.",
        "therapist": "Staff see an organisation by its name only (recording consent, a partner's member of a team); its details and partners are the admin's to manage.",
        "employment_specialist": "Staff see an organisation by its name only (recording consent, a partner's member of a team); its details and partners are the admin's to manage.",
        "supervisor": "Staff see an organisation by its name only (recording consent, a partner's member of a team); its details and partners are the admin's to manage.",
        "client": "Clients see the organisations sharing their record on their consent panel; managing organisations is the admin's."
      }
    },
    "sso-settings": {
      "roles": ["admin"],
      "needs": ["GET /api/v1/auth/sso/organisations/{organisation_id}"]
    },
    "supervision": {
      "label": "Supervision", "href": "#/supervision",
      "roles": ["supervisor"],
      "needs": ["GET /api/v1/supervision/supervisees", "GET /api/v1/wellbeing/talk-requests", "GET /api/v1/reports/scopes", "GET /api/v1/teams/pending-members", "GET /api/v1/supervision/records"]
    },
    "supervision-record": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin"],
      "needs": ["GET /api/v1/supervision/records/{record_id}"]
    },
    "supervisee": {
      "roles": ["supervisor"],
      "needs": ["GET /api/v1/wellbeing/people/{user_id}/check-ins", "GET /api/v1/supervision/supervisees"]
    },
    "fidelity": {
      "roles": ["supervisor"],
      "needs": ["GET /api/v1/teams/{team_id}/fidelity-reviews/draft", "GET /api/v1/teams/{team_id}/fidelity-reviews"]
    },
    "reports": {
      "label": "Reports", "href": "#/reports",
      "roles": ["supervisor", "admin"],
      "needs": ["GET /api/v1/reports/programme", "GET /api/v1/reports/scopes", "GET /api/v1/reports/equality", "GET /api/v1/reports/targets"]
    },
    "evaluation": {
      "roles": ["supervisor"],
      "needs": ["GET /api/v1/evaluation/trials"]
    },
    "evaluation-trial": {
      "roles": ["supervisor"],
      "needs": ["GET /api/v1/evaluation/trials/{trial_id}", "GET /api/v1/evaluation/trials/{trial_id}/figures"]
    },
    "account": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin"],
      "needs": ["POST /api/v1/auth/mfa/recovery-codes"],
      "notShownTo": {
        "client": "Clients sign in with a password alone (no authenticator app), so they have no recovery codes to replace; the server answers them 409 mfa-not-started."
      }
    },
    "notifications": {
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin", "client"],
      "needs": ["GET /api/v1/me/notifications"]
    },
    "audit": {
      "label": "Audit", "href": "#/audit",
      "roles": ["supervisor", "admin"],
      "needs": ["GET /api/v1/audit-events"]
    },
    "jobs": {
      "label": "Jobs", "href": "#/jobs",
      "roles": ["admin"],
      "needs": ["GET /api/v1/admin/jobs", "POST /api/v1/admin/jobs/{job_id}/retry"]
    },
    "system": {
      "label": "System", "href": "#/system",
      "roles": ["admin"],
      "needs": ["GET /api/v1/admin/system"]
    },
    "wellbeing": {
      "label": "How are you?", "href": "#/wellbeing",
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin"],
      "needs": ["GET /api/v1/wellbeing/prompt", "GET /api/v1/wellbeing/check-ins", "GET /api/v1/supervision/records", "GET /api/v1/meetings", "GET /api/v1/supervision/links"]
    },
    "messages": {
      "label": "Messages", "href": "#/messages",
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin", "client"],
      "needs": ["GET /api/v1/conversations"]
    },
    "alerts": {
      "label": "Alerts", "href": "#/alerts",
      "roles": ["peer_keyworker", "therapist", "employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/alerts"],
      "notShownTo": {
        "admin": "Alerts reach clinicians (a client's care team, else supervisors); an admin is never sent one, so the list would always be empty."
      }
    },
    "employer-contacts": {
      "roles": ["employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/employer-contacts", "GET /api/v1/clients"]
    },
    "employers": {
      "label": "Employers", "href": "#/employers",
      "roles": ["employment_specialist"],
      "needs": ["GET /api/v1/employers", "GET /api/v1/vacancies"],
      "elsewhere": {"supervisor": "employer-directory"},
      "notShownTo": {
        "peer_keyworker": "The employer directory is the employment specialists' job development, read by their supervisor; a keyworker sees the vacancies matching a client on the client's journey.",
        "therapist": "The employer directory is the employment specialists' job development, read by their supervisor; a therapist sees the vacancies matching a client on the client's journey."
      }
    },
    "employer-directory": {
      "roles": ["employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/employers", "GET /api/v1/vacancies"]
    },
    "caseloads": {
      "label": "Caseloads", "href": "#/caseloads",
      "roles": ["employment_specialist", "supervisor"],
      "needs": ["GET /api/v1/caseloads"],
      "notShownTo": {
        "peer_keyworker": "Caseloads are the employment specialists' open cases against the IPS limit, watched by the specialists and their supervisor; a keyworker sees a client's specialist on the record.",
        "therapist": "Caseloads are the employment specialists' open cases against the IPS limit, watched by the specialists and their supervisor; a therapist sees a client's specialist on the record."
      }
    }
  }
};
// ACCESS END

/** Whether `user` may open the page `id` (and, for a navigation entry, sees it). */
export function sees(user, id) {
  const found = ACCESS.pages[id];
  return Boolean(user && found && found.roles.includes(user.role));
}

/** The navigation entries (main navigation, in order) `user` sees. */
export function navFor(user) {
  return ACCESS.nav.filter((id) => sees(user, id)).map((id) => ({ id, ...ACCESS.pages[id] }));
}

/** Where `user` lands after signing in, as a hash. */
export function landingFor(user) {
  const id = user && ACCESS.landing[user.role];
  return id ? ACCESS.pages[id].href : '#/not-found';
}
