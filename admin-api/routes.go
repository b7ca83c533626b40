package adminapi

import "net/http"

// route is one API endpoint: its method and path, the role a caller needs
// ("" for the few public routes), a summary for the OpenAPI document's
// reader, and the handler. p is the authenticated caller (zero on public
// routes).
type route struct {
	method, path string
	role         Role
	serve        func(w http.ResponseWriter, r *http.Request, p principal) error
}

func (r route) pattern() string { return r.method + " " + r.path }

// routes is every endpoint of the API. A test enumerates it to prove each
// refuses anonymous callers and viewers where it must, and another checks it
// against openapi.json.
func (s *Server) routes() []route {
	const v1 = "/api/v1"
	rs := []route{
		{"GET", v1 + "/openapi.json", "", s.openAPI},
		{"POST", v1 + "/auth/login", "", s.login},
		{"POST", v1 + "/auth/logout", RoleViewer, s.logout},
		{"GET", v1 + "/auth/me", RoleViewer, s.me},
		{"POST", v1 + "/auth/password", RoleViewer, s.changeOwnPassword},

		{"GET", v1 + "/users", RoleAdmin, s.listUsers},
		{"POST", v1 + "/users", RoleAdmin, s.createUser},
		{"PATCH", v1 + "/users/{name}", RoleAdmin, s.updateUser},
		{"POST", v1 + "/users/{name}/password", RoleAdmin, s.setUserPassword},

		{"GET", v1 + "/tokens", RoleAdmin, s.listTokens},
		{"POST", v1 + "/tokens", RoleAdmin, s.createToken},
		{"DELETE", v1 + "/tokens/{id}", RoleAdmin, s.revokeToken},

		{"GET", v1 + "/sources", RoleViewer, s.listSources},
		{"POST", v1 + "/sources", RoleAdmin, s.createSource},
		{"GET", v1 + "/sources/{id}", RoleViewer, s.getSource},
		{"PATCH", v1 + "/sources/{id}", RoleAdmin, s.updateSource},
		{"POST", v1 + "/sources/{id}/rotate-key", RoleAdmin, s.rotateSourceKey},
		{"POST", v1 + "/sources/{id}/disable", RoleAdmin, s.disableSource},

		{"GET", v1 + "/schemas", RoleViewer, s.listSchemas},
		{"GET", v1 + "/schemas/{type}", RoleViewer, s.getSchema},

		{"GET", v1 + "/dlq", RoleViewer, s.listDeadLetters},
		{"GET", v1 + "/dlq/{partition}/{offset}", RoleViewer, s.getDeadLetter},
		{"POST", v1 + "/dlq/replay", RoleAdmin, s.replayDeadLetters},

		{"GET", v1 + "/audit", RoleAdmin, s.listAudit},

		{"GET", v1 + "/system/health", RoleViewer, s.systemHealth},
		{"GET", v1 + "/system/info", RoleViewer, s.systemInfo},
	}
	return append(rs, s.queryRoutes()...)
}
